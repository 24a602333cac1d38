#include "config/config.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>

#include <boost/json.hpp>

#include "absl/status/status.h"
#include "util/strings.h"


namespace quantclaw {
namespace {

namespace json = boost::json;

// http(s)://host[:port][/path]: what libcurl will be asked to reach.
std::optional<std::string> UrlProblem(std::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "missing scheme (expected http:// or https://)";
  std::string_view scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return StrCat("unsupported scheme \"", scheme, "\" (expected http or https)");
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return "contains whitespace or a control character";
  }
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) {
    return "credentials in the URL; use api_key_env instead";
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return "unclosed IPv6 literal";
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return "unexpected text after the IPv6 literal";
      port = after.substr(1);
      if (port.empty()) return "empty port";
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return "empty port";
  }
  if (host.empty()) return "missing host";
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return StrCat("invalid port \"", port, "\"");
    }
    int number = std::stoi(std::string(port));
    if (number < 1 || number > 65535) return StrCat("port ", number, " is not in [1, 65535]");
  }
  if (host.front() != '[') {
    for (char c : host) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                c == '.' || c == '_';
      if (!ok) return StrCat("invalid character '", std::string(1, c), "' in host");
    }
  }
  return std::nullopt;
}

struct Parser {
  Validator& v;
  RouterConfig& config;

  void ParseTiers(const json::object& root) {
    const json::value* tiers_value = root.if_contains("tiers");
    if (tiers_value == nullptr) {
      v.Error("/tiers", "required array of tiers is missing");
      return;
    }
    const json::array* tiers = v.AsArray(*tiers_value, "/tiers");
    if (tiers == nullptr) return;
    if (tiers->empty()) v.Error("/tiers", "must hold at least one tier");
    if (tiers->size() > kMaxTiers) {
      v.Error("/tiers", StrCat("at most ", kMaxTiers, " tiers, got ", tiers->size()));
      return;
    }
    for (size_t i = 0; i < tiers->size(); ++i) {
      std::string pointer = JoinPointer("/tiers", i);
      const json::object* object = v.AsObject(
          (*tiers)[i], pointer,
          {"name", "format", "bits", "base_url", "model", "api_key_env", "cost", "description"});
      TierConfig tier;
      if (object != nullptr) {
        tier.name = v.String(*object, "name", pointer, true).value_or("");
        tier.format = v.String(*object, "format", pointer, true).value_or("");
        tier.base_url = v.String(*object, "base_url", pointer, true).value_or("");
        tier.model = v.String(*object, "model", pointer, true).value_or("");
        tier.api_key_env = v.String(*object, "api_key_env", pointer, false).value_or("");
        v.String(*object, "description", pointer, false);
        std::optional<uint64_t> bits = v.Integer(*object, "bits", pointer, 1, 64);
        tier.bits = bits ? static_cast<int>(*bits) : FormatBits(tier.format);
        if (!bits && !tier.format.empty() && tier.bits == 0) {
          v.Error(JoinPointer(pointer, "format"),
                  StrCat("unknown precision format ", Quote(tier.format),
                               " (known: fp32, bf16, fp16, fp8, int8, w8a8, mxfp8, hif8, q8_0, int4, "
                               "w4a16, w4a8, awq, gptq, nvfp4, mxfp4, hif4, q4_0, q4_k_m, int3, "
                               "w3a16); or give \"bits\""));
        }
        if (!tier.base_url.empty()) {
          if (auto problem = UrlProblem(tier.base_url)) {
            v.Error(JoinPointer(pointer, "base_url"), StrCat("malformed URL: ", *problem));
          }
        }
        if (!tier.api_key_env.empty()) {
          bool ok = std::all_of(tier.api_key_env.begin(), tier.api_key_env.end(), [](char c) {
            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
          }) && !(tier.api_key_env[0] >= '0' && tier.api_key_env[0] <= '9');
          if (!ok) {
            v.Error(JoinPointer(pointer, "api_key_env"),
                    "not an environment variable name (letters, digits, _; the key itself never "
                    "goes in config)");
          }
        }
        if (const json::value* cost = object->if_contains("cost")) {
          std::string cost_pointer = JoinPointer(pointer, "cost");
          if (const json::object* cost_object =
                  v.AsObject(*cost, cost_pointer, {"input_per_mtok", "output_per_mtok"})) {
            tier.input_per_mtok =
                v.Number(*cost_object, "input_per_mtok", cost_pointer, 0, 1e9, false).value_or(0);
            tier.output_per_mtok =
                v.Number(*cost_object, "output_per_mtok", cost_pointer, 0, 1e9, false).value_or(0);
          }
        }
        if (!tier.name.empty()) {
          auto [it, inserted] = config.tier_by_name.emplace(tier.name, static_cast<uint32_t>(i));
          if (!inserted) {
            v.Error(JoinPointer(pointer, "name"),
                    StrCat("duplicate tier name ", Quote(tier.name), " (also /tiers/",
                                 it->second, "/name)"));
          }
        }
      }
      config.tiers.push_back(std::move(tier));
    }
  }

  // Resolves a tier name at `pointer`; reports a reference to a tier that does not exist.
  std::optional<uint32_t> TierReference(const json::value& value, const std::string& pointer) {
    const json::string* name = value.if_string();
    if (name == nullptr) {
      v.Error(pointer, StrCat("expected a tier name, got ", JsonKindName(value)));
      return std::nullopt;
    }
    auto it = config.tier_by_name.find(ToAbsl(std::string_view(*name)));
    if (it == config.tier_by_name.end()) {
      std::vector<std::string_view> names;
      for (const auto& tier : config.tiers) {
        if (!tier.name.empty() && std::find(names.begin(), names.end(), tier.name) == names.end()) {
          names.push_back(tier.name);
        }
      }
      v.Error(pointer, StrCat("no tier named ", Quote(*name), " (tiers: ",
                                    StrJoin(names, ", "), ")"));
      return std::nullopt;
    }
    return it->second;
  }

  std::optional<uint32_t> TierKey(const json::object& object, std::string_view key,
                                  const std::string& pointer, bool required) {
    const json::value* value = object.if_contains(key);
    if (value == nullptr) {
      if (required) v.Error(JoinPointer(pointer, key), "required tier name is missing");
      return std::nullopt;
    }
    return TierReference(*value, JoinPointer(pointer, key));
  }

  Condition ParseCondition(const json::value& value, const std::string& pointer) {
    Condition condition;
    const json::object* object = value.if_object();
    if (object == nullptr) {
      v.Error(pointer, StrCat("expected an object, got ", JsonKindName(value)));
      return condition;
    }
    static const std::vector<std::string> kKeys = [] {
      std::vector<std::string> keys = {"step_kind", "last_tool", "task_type", "json_requested",
                                       "tools_requested", "last_tool_error"};
      for (int f = 0; f < kNumericFeatureCount; ++f) {
        for (std::string_view suffix : {"_gt", "_ge", "_lt", "_le"}) {
          keys.push_back(StrCat(NumericFeatureName(static_cast<NumericFeature>(f)), suffix));
        }
      }
      return keys;
    }();
    for (const auto& [key, item] : *object) {
      std::string item_pointer = JoinPointer(pointer, key);
      if (key == "step_kind") {
        condition.step_kinds = v.StringList(item, item_pointer);
      } else if (key == "last_tool") {
        condition.last_tools = v.StringList(item, item_pointer);
      } else if (key == "task_type") {
        condition.task_types = v.StringList(item, item_pointer);
      } else if (key == "json_requested") {
        condition.json_requested = v.Bool(*object, key, pointer);
      } else if (key == "tools_requested") {
        condition.tools_requested = v.Bool(*object, key, pointer);
      } else if (key == "last_tool_error") {
        condition.last_tool_error = v.Bool(*object, key, pointer);
      } else if (auto test = NumericTest(key)) {
        if (auto number = v.Number(*object, key, pointer, -1e18, 1e18, true)) {
          test->value = *number;
          condition.numeric.push_back(*test);
        }
      } else {
        std::string suggestion = DidYouMean(key, std::vector<std::string_view>(kKeys.begin(), kKeys.end()));
        v.Error(item_pointer, StrCat("unknown condition ", Quote(key),
                                     suggestion.empty() ? " (see README.md, Configuration)" : suggestion));
      }
    }
    return condition;
  }

  static std::optional<Condition::NumericTest> NumericTest(std::string_view key) {
    static constexpr std::pair<std::string_view, Condition::Comparison> kSuffixes[] = {
        {"_gt", Condition::Comparison::kGreater},
        {"_ge", Condition::Comparison::kGreaterOrEqual},
        {"_lt", Condition::Comparison::kLess},
        {"_le", Condition::Comparison::kLessOrEqual}};
    for (const auto& [suffix, comparison] : kSuffixes) {
      if (key.size() <= suffix.size() || key.substr(key.size() - suffix.size()) != suffix) continue;
      std::string_view name = key.substr(0, key.size() - suffix.size());
      for (int f = 0; f < kNumericFeatureCount; ++f) {
        if (NumericFeatureName(static_cast<NumericFeature>(f)) == name) {
          return Condition::NumericTest{static_cast<NumericFeature>(f), comparison, 0};
        }
      }
    }
    return std::nullopt;
  }

  void ParseScorer(const json::value& value, const std::string& pointer) {
    const json::object* object = value.if_object();
    if (object == nullptr) {
      v.Error(pointer, StrCat("expected an object, got ", JsonKindName(value)));
      return;
    }
    std::optional<std::string> kind = v.String(*object, "kind", pointer, true);
    if (!kind) return;
    if (*kind == "rules") {
      v.AsObject(value, pointer, {"kind", "rules", "default_score"});
      RulesScorer scorer;
      scorer.default_score = v.Number(*object, "default_score", pointer, 0, 1, false);
      if (const json::value* rules_value = object->if_contains("rules")) {
        std::string rules_pointer = JoinPointer(pointer, "rules");
        if (const json::array* rules = v.AsArray(*rules_value, rules_pointer)) {
          for (size_t i = 0; i < rules->size(); ++i) {
            std::string rule_pointer = JoinPointer(rules_pointer, i);
            const json::object* rule = v.AsObject((*rules)[i], rule_pointer, {"when", "score"});
            if (rule == nullptr) continue;
            ScoreRule score_rule;
            if (const json::value* when = rule->if_contains("when")) {
              score_rule.when = ParseCondition(*when, JoinPointer(rule_pointer, "when"));
            } else {
              v.Error(JoinPointer(rule_pointer, "when"), "required condition is missing");
            }
            score_rule.score = v.Number(*rule, "score", rule_pointer, 0, 1, true).value_or(0);
            scorer.rules.push_back(std::move(score_rule));
          }
        }
      } else {
        v.Error(JoinPointer(pointer, "rules"), "required array of rules is missing");
      }
      config.policy.scorers.emplace_back(std::move(scorer));
    } else if (*kind == "quantclaw") {
      v.AsObject(value, pointer, {"kind", "quant", "mode", "precision_tiers"});
      QuantClawScorer scorer;
      if (auto mode = v.String(*object, "mode", pointer, false)) {
        if (*mode == "faithful") {
          scorer.mode = TaskTypeMode::kFaithful;
        } else if (*mode != "improved") {
          v.Error(JoinPointer(pointer, "mode"),
                  StrCat("unknown mode ", Quote(*mode), " (expected \"faithful\" or \"improved\")"));
        }
      }
      const json::value* quant = object->if_contains("quant");
      if (quant == nullptr) {
        v.Error(JoinPointer(pointer, "quant"),
                "required: the QuantClaw plugin's \"quant\" object (taskTypes, defaultTaskType, targets)");
      } else {
        scorer.detector = TaskTypeDetector::Compile(*quant, JoinPointer(pointer, "quant"), scorer.mode,
                                                    errorsSink());
        ParseJudge(*quant, JoinPointer(pointer, "quant"), &scorer);
      }
      // Which tier serves each QuantClaw precision: given, or the ladder's natural match.
      const json::object* mapping = nullptr;
      std::string mapping_pointer = JoinPointer(pointer, "precision_tiers");
      if (const json::value* mapping_value = object->if_contains("precision_tiers")) {
        mapping = v.AsObject(*mapping_value, mapping_pointer, {"4bit", "8bit", "16bit"});
      }
      for (int p = 0; p < kPrecisionCount; ++p) {
        std::string_view name = PrecisionName(static_cast<Precision>(p));
        if (mapping != nullptr && mapping->if_contains(name)) {
          if (auto tier = TierKey(*mapping, name, mapping_pointer, false)) scorer.precision_tier[p] = int(*tier);
        } else {
          scorer.precision_tier[p] = NaturalTierFor(static_cast<Precision>(p));
        }
      }
      config.policy.scorers.emplace_back(std::move(scorer));
    } else {
      v.Error(JoinPointer(pointer, "kind"),
              StrCat("unknown scorer kind ", Quote(*kind), " (expected \"rules\" or \"quantclaw\")"));
    }
  }

  ConfigErrors* errorsSink() { return errors; }

  // The plugin asks its judge only when its "detectors" list goes beyond the rule detector; an
  // endpoint or model left empty turns it off, as in the plugin's example.
  void ParseJudge(const json::value& quant, const std::string& pointer, QuantClawScorer* scorer) {
    const json::object* object = quant.if_object();
    if (object == nullptr) return;
    const json::value* judge_value = object->if_contains("judge");
    if (judge_value == nullptr) return;
    std::string judge_pointer = JoinPointer(pointer, "judge");
    const json::object* judge = v.AsObject(*judge_value, judge_pointer,
                                           {"endpoint", "model", "providerType", "apiKey", "customModule",
                                            "cacheTtlMs", "timeoutMs"});
    if (judge == nullptr) return;
    std::string endpoint = v.String(*judge, "endpoint", judge_pointer, false).value_or("");
    std::string model = v.String(*judge, "model", judge_pointer, false).value_or("");
    std::string api_key = v.String(*judge, "apiKey", judge_pointer, false).value_or("");
    v.String(*judge, "providerType", judge_pointer, false);
    v.String(*judge, "customModule", judge_pointer, false);
    auto ttl = v.Integer(*judge, "cacheTtlMs", judge_pointer, 0, 86400000);
    auto timeout = v.Integer(*judge, "timeoutMs", judge_pointer, 1, 600000);
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
    std::string_view base = endpoint;
    while (!base.empty() && base.back() == '/') base.remove_suffix(1);
    config_out.url = base.size() >= 3 && base.substr(base.size() - 3) == "/v1" ? StrCat(base, "/chat/completions")
                                                                               : StrCat(base, "/v1/chat/completions");
    config_out.model = model;
    config_out.api_key = api_key;
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
  ConfigErrors* errors = nullptr;

  // 16bit -> the reference tier; 8bit -> the highest tier of 5..8 bits; 4bit -> the highest of <= 4.
  int NaturalTierFor(Precision precision) const {
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

  void BuildLadder() {
    for (uint32_t i = 0; i < config.tiers.size(); ++i) config.ladder.push_back(i);
    std::stable_sort(config.ladder.begin(), config.ladder.end(), [this](uint32_t a, uint32_t b) {
      return config.tiers[a].bits < config.tiers[b].bits;
    });
    config.ladder_position.assign(config.tiers.size(), 0);
    for (uint32_t position = 0; position < config.ladder.size(); ++position) {
      config.ladder_position[config.ladder[position]] = position;
    }
  }

  void ParsePolicy(const json::object& root) {
    const json::value* policy_value = root.if_contains("policy");
    config.policy.default_tier = config.reference_tier;
    const size_t tier_count = config.tiers.size();
    // Evenly spaced fixed thresholds unless given: 0.5 for two tiers.
    for (size_t i = 1; i < tier_count; ++i) config.policy.thresholds.push_back(double(i) / double(tier_count));
    if (policy_value == nullptr) return;
    const json::object* policy = v.AsObject(
        *policy_value, "/policy",
        {"force", "scorer", "thresholds", "budget", "escalation", "phase_split", "governor", "default_tier"});
    if (policy == nullptr) return;

    if (const json::value* force_value = policy->if_contains("force")) {
      if (const json::array* force = v.AsArray(*force_value, "/policy/force")) {
        for (size_t i = 0; i < force->size(); ++i) {
          std::string pointer = JoinPointer("/policy/force", i);
          const json::object* rule = v.AsObject((*force)[i], pointer, {"when", "tier"});
          if (rule == nullptr) continue;
          ForceRule force_rule;
          if (const json::value* when = rule->if_contains("when")) {
            force_rule.when = ParseCondition(*when, JoinPointer(pointer, "when"));
          } else {
            v.Error(JoinPointer(pointer, "when"), "required condition is missing");
          }
          if (auto tier = TierKey(*rule, "tier", pointer, true)) force_rule.tier = *tier;
          config.policy.force.push_back(std::move(force_rule));
        }
      }
    }

    if (const json::value* scorer = policy->if_contains("scorer")) {
      if (const json::array* chain = scorer->if_array()) {
        for (size_t i = 0; i < chain->size(); ++i) ParseScorer((*chain)[i], JoinPointer("/policy/scorer", i));
      } else {
        ParseScorer(*scorer, "/policy/scorer");
      }
      int quantclaw_scorers = 0;
      for (const Scorer& s : config.policy.scorers) quantclaw_scorers += std::holds_alternative<QuantClawScorer>(s);
      if (quantclaw_scorers > 1) v.Error("/policy/scorer", "at most one scorer of kind \"quantclaw\"");
    }

    if (const json::value* thresholds_value = policy->if_contains("thresholds")) {
      if (const json::array* thresholds = v.AsArray(*thresholds_value, "/policy/thresholds")) {
        std::vector<double> parsed;
        for (size_t i = 0; i < thresholds->size(); ++i) {
          std::string pointer = JoinPointer("/policy/thresholds", i);
          const json::value& item = (*thresholds)[i];
          if (!item.is_number()) {
            v.Error(pointer, StrCat("expected a number, got ", JsonKindName(item)));
            continue;
          }
          double threshold = item.to_number<double>();
          if (!(threshold >= 0 && threshold <= 1)) {
            v.Error(pointer, StrCat("out of range: ", threshold, " is not in [0, 1]"));
          } else if (!parsed.empty() && threshold <= parsed.back()) {
            v.Error(pointer, "thresholds must be strictly ascending");
          }
          parsed.push_back(threshold);
        }
        if (tier_count > 0 && parsed.size() != tier_count - 1) {
          v.Error("/policy/thresholds",
                  StrCat("expected ", tier_count - 1, " thresholds (one between each pair of ",
                               tier_count, " tiers on the ladder), got ", parsed.size()));
        }
        config.policy.thresholds = std::move(parsed);
      }
    }

    if (const json::value* budget_value = policy->if_contains("budget")) {
      if (const json::object* budget =
              v.AsObject(*budget_value, "/policy/budget", {"high_fraction", "window", "warmup"})) {
        BudgetConfig parsed;
        parsed.high_fraction =
            v.Number(*budget, "high_fraction", "/policy/budget", 0, 1, true).value_or(parsed.high_fraction);
        parsed.window = static_cast<uint32_t>(
            v.Integer(*budget, "window", "/policy/budget", 10, 100000).value_or(parsed.window));
        parsed.warmup = static_cast<uint32_t>(
            v.Integer(*budget, "warmup", "/policy/budget", 1, 100000).value_or(parsed.warmup));
        if (parsed.warmup > parsed.window) {
          v.Error("/policy/budget/warmup",
                  StrCat("out of range: warmup ", parsed.warmup, " exceeds window ", parsed.window));
        }
        config.policy.budget = parsed;
      }
    }

    if (const json::value* escalation_value = policy->if_contains("escalation")) {
      if (const json::object* escalation =
              v.AsObject(*escalation_value, "/policy/escalation", {"on_invalid_tool_call"})) {
        config.policy.escalate_on_invalid_tool_call =
            v.Bool(*escalation, "on_invalid_tool_call", "/policy/escalation").value_or(true);
      }
    }

    if (const json::value* split_value = policy->if_contains("phase_split")) {
      if (const json::object* split = v.AsObject(*split_value, "/policy/phase_split",
                                                 {"min_prompt_tokens", "prefill_tier", "decode_tier"})) {
        PhaseSplitConfig parsed;
        parsed.min_prompt_tokens =
            v.Integer(*split, "min_prompt_tokens", "/policy/phase_split", 1, uint64_t(1) << 40)
                .value_or(parsed.min_prompt_tokens);
        auto prefill = TierKey(*split, "prefill_tier", "/policy/phase_split", true);
        auto decode = TierKey(*split, "decode_tier", "/policy/phase_split", true);
        if (prefill && decode) {
          parsed.prefill_tier = *prefill;
          parsed.decode_tier = *decode;
          config.policy.phase_split = parsed;
        }
      }
    }

    if (const json::value* governor_value = policy->if_contains("governor")) {
      if (const json::object* governor =
              v.AsObject(*governor_value, "/policy/governor", {"min_context_tokens", "hysteresis"})) {
        GovernorConfig parsed;
        parsed.min_context_tokens = v.Integer(*governor, "min_context_tokens", "/policy/governor", 0, uint64_t(1) << 40)
                                        .value_or(parsed.min_context_tokens);
        parsed.hysteresis = v.Number(*governor, "hysteresis", "/policy/governor", 0, 1, false).value_or(parsed.hysteresis);
        config.policy.governor = parsed;
      }
    }

    if (auto tier = TierKey(*policy, "default_tier", "/policy", false)) config.policy.default_tier = *tier;
  }

  void ParseLimits(const json::object& root) {
    const json::value* limits_value = root.if_contains("limits");
    if (limits_value == nullptr) return;
    const json::object* limits = v.AsObject(*limits_value, "/limits",
                                            {"max_sessions", "session_idle_seconds", "max_message_bytes"});
    if (limits == nullptr) return;
    config.limits.max_sessions = static_cast<uint32_t>(
        v.Integer(*limits, "max_sessions", "/limits", 1, 10'000'000).value_or(config.limits.max_sessions));
    config.limits.session_idle_seconds =
        v.Number(*limits, "session_idle_seconds", "/limits", 1, 30.0 * 86400, false)
            .value_or(config.limits.session_idle_seconds);
    config.limits.max_message_bytes =
        v.Integer(*limits, "max_message_bytes", "/limits", 1024, uint64_t(1) << 30)
            .value_or(config.limits.max_message_bytes);
  }

  void ParseBackend(const json::object& root) {
    const json::value* backend_value = root.if_contains("backend");
    if (backend_value == nullptr) return;
    const json::object* backend = v.AsObject(
        *backend_value, "/backend",
        {"connect_timeout_ms", "first_byte_timeout_ms", "total_timeout_ms", "max_response_bytes", "retries",
         "backoff_initial_ms", "backoff_max_ms", "breaker_failures", "breaker_open_ms", "failover"});
    if (backend == nullptr) return;
    BackendConfig& out = config.backend;
    out.connect_timeout_ms = v.Integer32(*backend, "connect_timeout_ms", "/backend", 1, 600000, out.connect_timeout_ms);
    out.first_byte_timeout_ms = v.Integer32(*backend, "first_byte_timeout_ms", "/backend", 1, 3600000, out.first_byte_timeout_ms);
    out.total_timeout_ms = v.Integer32(*backend, "total_timeout_ms", "/backend", 1, 86400000, out.total_timeout_ms);
    out.max_response_bytes =
        v.Integer(*backend, "max_response_bytes", "/backend", 1024, uint64_t(1) << 32).value_or(out.max_response_bytes);
    out.retries = v.Integer32(*backend, "retries", "/backend", 0, 10, out.retries);
    out.backoff_initial_ms = v.Integer32(*backend, "backoff_initial_ms", "/backend", 0, 60000, out.backoff_initial_ms);
    out.backoff_max_ms = v.Integer32(*backend, "backoff_max_ms", "/backend", 0, 600000, out.backoff_max_ms);
    out.breaker_failures = v.Integer32(*backend, "breaker_failures", "/backend", 1, 1000, out.breaker_failures);
    out.breaker_open_ms = v.Integer32(*backend, "breaker_open_ms", "/backend", 1, 3600000, out.breaker_open_ms);
    out.failover = v.Bool(*backend, "failover", "/backend").value_or(out.failover);
  }

  // Shadow sampling is validated now so a config written for it stays valid; the sampling itself
  // comes with the backend client.
  void ParseShadow(const json::object& root) {
    const json::value* shadow_value = root.if_contains("shadow");
    if (shadow_value == nullptr) return;
    const json::object* shadow =
        v.AsObject(*shadow_value, "/shadow", {"rate", "top_logprobs", "trace_path"});
    if (shadow == nullptr) return;
    v.Number(*shadow, "rate", "/shadow", 0, 1, false);
    v.Integer(*shadow, "top_logprobs", "/shadow", 1, 20);
    v.String(*shadow, "trace_path", "/shadow", false);
  }
};

}  // namespace

int FormatBits(std::string_view format) {
  static const std::pair<std::string_view, int> kFormats[] = {
      {"fp32", 32}, {"f32", 32},   {"bf16", 16},   {"fp16", 16},  {"f16", 16},   {"fp8", 8},
      {"fp8_e4m3", 8}, {"fp8_e5m2", 8}, {"int8", 8}, {"w8a8", 8},  {"w8a16", 8}, {"mxfp8", 8},
      {"hif8", 8},  {"q8_0", 8},   {"int4", 4},    {"w4a16", 4},  {"w4a8", 4},   {"awq", 4},
      {"gptq", 4},  {"nvfp4", 4},  {"mxfp4", 4},   {"hif4", 4},   {"q4_0", 4},   {"q4_k_m", 4},
      {"int3", 3},  {"w3a16", 3},  {"q3_k", 3}};
  for (const auto& [name, bits] : kFormats) {
    if (name.size() == format.size() &&
        std::equal(name.begin(), name.end(), format.begin(), [](char a, char b) {
          return a == ((b >= 'A' && b <= 'Z') ? char(b - 'A' + 'a') : b);
        })) {
      return bits;
    }
  }
  return 0;
}

const QuantClawScorer* RouterConfig::quantclaw_scorer() const {
  for (const Scorer& scorer : policy.scorers) {
    if (const auto* quantclaw = std::get_if<QuantClawScorer>(&scorer)) return quantclaw;
  }
  return nullptr;
}

int RouterConfig::FindTier(std::string_view name) const {
  auto it = tier_by_name.find(ToAbsl(name));
  return it == tier_by_name.end() ? -1 : static_cast<int>(it->second);
}

std::shared_ptr<const RouterConfig> ParseRouterConfig(std::string_view text, ConfigErrors* errors) {
  errors->clear();
  json::parse_options options;
  options.max_depth = 64;
  json::stream_parser stream(json::storage_ptr(), options);
  boost::system::error_code ec;
  size_t consumed = stream.write_some(text.data(), text.size(), ec);
  if (!ec && consumed != text.size()) {
    errors->push_back({"", StrCat("unexpected text after the JSON document at byte ", consumed)});
    return nullptr;
  }
  if (!ec) stream.finish(ec);
  if (ec) {
    errors->push_back({"", StrCat("invalid JSON at byte ", consumed, ": ", ec.message())});
    return nullptr;
  }
  json::value document = stream.release();

  Validator v(errors);
  auto config = std::make_shared<RouterConfig>();
  const json::object* root = v.AsObject(
      document, "", {"tiers", "reference_tier", "policy", "limits", "backend", "shadow", "$schema", "description"});
  if (root == nullptr) return nullptr;
  Parser parser{v, *config};
  parser.errors = errors;
  parser.ParseTiers(*root);
  parser.BuildLadder();
  if (!config->tiers.empty()) config->reference_tier = config->ladder.back();
  if (auto reference = parser.TierKey(*root, "reference_tier", "", false)) config->reference_tier = *reference;
  parser.ParsePolicy(*root);
  parser.ParseLimits(*root);
  parser.ParseShadow(*root);
  parser.ParseBackend(*root);
  if (!errors->empty()) return nullptr;
  return config;
}

absl::StatusOr<std::shared_ptr<const RouterConfig>> LoadRouterConfig(std::string_view json_text) {
  ConfigErrors errors;
  auto config = ParseRouterConfig(json_text, &errors);
  if (config) return config;
  return absl::InvalidArgumentError(JoinErrors(errors));
}

}  // namespace quantclaw
