#include "policy/quantclaw_scorer.h"

#include <filesystem>
#include <fstream>
#include <system_error>

#include <boost/json.hpp>

#include "util/strings.h"
#include "util/url.h"

namespace quantclaw {
namespace {

namespace json = boost::json;

int Length(std::string_view text) { return static_cast<int>(text.size()); }

// The tier that serves a QuantClaw task type, escalating up the precisions while none is mapped.
uint32_t TierForTaskType(const TierTable& config, const QuantClawScorer& scorer, int task_type,
                         bool* escalated, Precision* served) {
  Precision precision = scorer.detector->ResolvePrecision(task_type, escalated);
  int p = static_cast<int>(precision);
  while (p < kPrecisionCount - 1 && scorer.precision_tier[p] < 0) {
    ++p;
    *escalated = true;
  }
  *served = static_cast<Precision>(p);
  int tier = scorer.precision_tier[p];
  return tier < 0 ? config.reference_tier : static_cast<uint32_t>(tier);
}

// Score for a QuantClaw precision, so traces and thresholds read on one scale.
double PrecisionScore(Precision precision) {
  switch (precision) {
    case Precision::k4bit: return 0.0;
    case Precision::k8bit: return 0.5;
    case Precision::k16bit: return 1.0;
  }
  return 1.0;
}


// 16bit -> the reference tier; 8bit -> the highest tier of 5..8 bits; 4bit -> the highest of <= 4.
int NaturalTierFor(const TierTable& config, Precision precision) {
  if (precision == Precision::k16bit) return static_cast<int>(config.reference_tier);
  int low = precision == Precision::k8bit ? 5 : 0;
  int high = precision == Precision::k8bit ? 8 : 4;
  int best = -1;
  for (uint32_t position = 0; position < config.ladder.size(); ++position) {
    const TierConfig& tier = config.tiers[config.ladder[position]];
    if (tier.bits >= low && tier.bits <= high) best = static_cast<int>(config.ladder[position]);
  }
  return best;
}

// The plugin asks its judge only when its "detectors" list goes beyond the rule detector; an
// endpoint or model left empty turns it off, as in the plugin's example.
void ParseJudge(const json::value& quant, const std::string& pointer, Validator& v, QuantClawScorer* scorer) {
  const json::object* object = quant.if_object();
  if (object == nullptr) return;
  const json::value* judge_value = object->if_contains("judge");
  if (judge_value == nullptr) return;
  std::string judge_pointer = JoinPointer(pointer, "judge");
  const json::object* judge = v.AsObject(*judge_value, judge_pointer,
                                         {"endpoint", "model", "providerType", "apiKey", "customModule",
                                          "cacheTtlMs", "timeoutMs", "caFile"});
  if (judge == nullptr) return;
  std::string endpoint = v.String(*judge, "endpoint", judge_pointer, false).value_or("");
  std::string model = v.String(*judge, "model", judge_pointer, false).value_or("");
  std::string api_key = v.String(*judge, "apiKey", judge_pointer, false).value_or("");
  v.String(*judge, "providerType", judge_pointer, false);
  v.String(*judge, "customModule", judge_pointer, false);
  auto ttl = v.Integer(*judge, "cacheTtlMs", judge_pointer, 0, 86400000);
  auto timeout = v.Integer(*judge, "timeoutMs", judge_pointer, 1, 600000);
  // quantclaw's own key (the plugin has none): PEM CA certificates for an https judge behind a private
  // CA, as a tier's "ca_file" is. Checked here, so a wrong path fails the config, not every judge call.
  std::string ca_file = v.String(*judge, "caFile", judge_pointer, false).value_or("");
  if (!ca_file.empty()) {
    std::error_code ec;
    std::ifstream ca(ca_file);
    if (!std::filesystem::is_regular_file(ca_file, ec) || !ca.good()) {
      v.Error(JoinPointer(judge_pointer, "caFile"), StrCat("cannot read the CA file ", Quote(ca_file)));
      return;
    }
  }
  if (!endpoint.empty()) {
    if (auto problem = UrlProblem(endpoint)) {
      v.Error(JoinPointer(judge_pointer, "endpoint"), StrCat("malformed URL: ", *problem));
      return;
    }
  }
  bool judge_detector = true;  // without "detectors", the plugin's default chain includes the judge
  if (const json::value* detectors = object->if_contains("detectors"); detectors && detectors->is_array()) {
    judge_detector = false;
    for (const json::value& detector : detectors->get_array()) {
      if (detector.is_string() && detector.get_string() != "ruleDetector") judge_detector = true;
    }
  }
  if (!judge_detector || endpoint.empty() || model.empty()) return;
  JudgeConfig config_out;
  // The plugin's endpoint is a base URL with or without its /v1.
  std::string_view base = endpoint;
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  config_out.url = JoinUrl(base, base.ends_with("/v1") ? "/chat/completions" : "/v1/chat/completions");
config_out.model = model;
  config_out.api_key = api_key;
  config_out.ca_file = ca_file;
  if (ttl) config_out.cache_ttl_ms = static_cast<uint32_t>(*ttl);
  if (timeout) config_out.timeout_ms = static_cast<uint32_t>(*timeout);
  config_out.system_prompt =
      "Classify the user's request as exactly one of these task types. Answer with JSON only, "
      "{\"taskTypeId\": \"<id>\"}.\n";
  if (const json::value* types = object->if_contains("taskTypes"); types && types->is_array()) {
    for (const json::value& type : types->get_array()) {
      const json::object* fields = type.if_object();
      if (fields == nullptr) continue;
      const json::value* id = fields->if_contains("id");
      const json::value* description = fields->if_contains("description");
      if (id == nullptr || !id->is_string()) continue;
      StrAppend(&config_out.system_prompt, "- ", std::string_view(id->get_string()),
                description && description->is_string() && !description->get_string().empty()
                    ? StrCat(": ", std::string_view(description->get_string()))
                    : std::string(),
                "\n");
    }
  }
  scorer->judge = config_out;
}

}  // namespace

ScorerVerdict QuantClawScorer::Score(const ScoringContext& context, size_t position, RoutingDecision* decision) const {
  (void)position;
  const SessionPolicyState& state = context.state;
  const int task_type = state.task_type.empty() ? -1 : detector->FindTaskType(state.task_type.view());
  if (task_type < 0) return {};
  bool escalated = false;
  Precision served;
  const uint32_t tier = TierForTaskType(context.tiers, *this, task_type, &escalated, &served);
  if (escalated) decision->flags |= kDecisionEscalated;
  std::string_view id = state.task_type.view();
  std::string_view precision = PrecisionName(served);
  const char* moved = escalated ? " (escalated: target missing)" : "";
  if (state.task_type_from_judge) {
    SetReason(decision, "quantclaw: task type %.*s (LLM judge; rules declined) -> %.*s%s", Length(id), id.data(),
              Length(precision), precision.data(), moved);
  } else if (state.task_type_hinted) {
    SetReason(decision, "quantclaw: task type %.*s (host hint) -> %.*s%s", Length(id), id.data(), Length(precision),
              precision.data(), moved);
  } else {
    SetReason(decision, "quantclaw: task type %.*s (rule score %d, lead %d) -> %.*s%s", Length(id), id.data(),
              state.task_type_score, state.task_type_lead, Length(precision), precision.data(), moved);
  }
  return {ScorerVerdict::Kind::kTier, PrecisionScore(served), tier};
}

ScorerVerdict QuantClawScorer::Fallback(const ScoringContext& context, RoutingDecision* decision) const {
  const int task_type = detector->default_task_type();
  bool escalated = false;
  Precision served;
  const uint32_t tier = TierForTaskType(context.tiers, *this, task_type, &escalated, &served);
  std::string_view id = detector->task_type(task_type).id;
  std::string_view precision = PrecisionName(served);
  decision->flags |= kDecisionDefaulted | (escalated ? kDecisionEscalated : 0);
  SetReason(decision, "quantclaw: rules declined; default task type %.*s -> %.*s", Length(id), id.data(),
            Length(precision), precision.data());
  return {ScorerVerdict::Kind::kTier, PrecisionScore(served), tier};
}

bool QuantClawScorer::ClassifyTurn(std::string_view prompt, SessionPolicyState* state,
                                   TaskTypeJudge* judge_client) const {
  if (detector == nullptr) return false;
  TaskTypeMatch match = detector->Detect(prompt);
  if (match.task_type >= 0) {
    state->task_type.Assign(detector->task_type(match.task_type).id);
    state->task_type_score = match.score;
    state->task_type_lead = match.score - match.runner_up_score;
    return match.pattern_budget_exhausted;
  }
  // The rules declined: the judge, if the plugin's config names one; else the chain goes on.
  if (!judge || judge_client == nullptr) return match.pattern_budget_exhausted;
  std::string judged = judge_client->Classify(*judge, *detector, prompt);
  if (!judged.empty()) {
    state->task_type.Assign(judged);
    state->task_type_from_judge = true;
  }
  return match.pattern_budget_exhausted;
}

std::unique_ptr<const Scorer> ParseQuantClawScorer(const ScorerSection& section) {
  Validator& v = section.v;
  const std::string& pointer = section.pointer;
  v.AsObject(section.value, pointer, {"kind", "quant", "mode", "precision_tiers"});
  auto scorer = std::make_unique<QuantClawScorer>();
  if (auto mode = v.String(section.object, "mode", pointer, false)) {
    if (*mode == "faithful") {
      scorer->mode = TaskTypeMode::kFaithful;
    } else if (*mode != "improved") {
      v.Error(JoinPointer(pointer, "mode"),
              StrCat("unknown mode ", Quote(*mode), " (expected \"faithful\" or \"improved\")"));
    }
  }
  const json::value* quant = section.object.if_contains("quant");
  if (quant == nullptr) {
    v.Error(JoinPointer(pointer, "quant"),
            "required: the QuantClaw plugin's \"quant\" object (taskTypes, defaultTaskType, targets)");
  } else {
    scorer->detector = TaskTypeDetector::Compile(*quant, JoinPointer(pointer, "quant"), scorer->mode,
                                                v.errors());
    ParseJudge(*quant, JoinPointer(pointer, "quant"), v, scorer.get());
  }
  // Which tier serves each QuantClaw precision: given, or the ladder's natural match.
  const json::object* mapping = nullptr;
  std::string mapping_pointer = JoinPointer(pointer, "precision_tiers");
  if (const json::value* mapping_value = section.object.if_contains("precision_tiers")) {
    mapping = v.AsObject(*mapping_value, mapping_pointer, {"4bit", "8bit", "16bit"});
  }
  for (int p = 0; p < kPrecisionCount; ++p) {
    std::string_view name = PrecisionName(static_cast<Precision>(p));
    if (mapping != nullptr && mapping->if_contains(name)) {
      if (auto tier = TierKey(section.tiers, *mapping, name, mapping_pointer, false, v)) scorer->precision_tier[p] = int(*tier);
    } else {
      scorer->precision_tier[p] = NaturalTierFor(section.tiers, static_cast<Precision>(p));
    }
  }
  return scorer;
}

}  // namespace quantclaw
