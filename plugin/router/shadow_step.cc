// What a sampled step carries to the shadow worker (backend/shadow.h): the request and the action the
// serving tier produced, and the trace record's features, decision and outcome as decided and served.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "router/router.h"
#include "quantclaw/v1/trace.pb.h"

namespace quantclaw {
namespace {

// The features a step was decided on, as the trace keeps them.
void FillStepFeatures(const SessionFeatures& features, std::string_view task_type, v1::StepFeatures* out) {
  out->set_step_index(features.step_index);
  out->set_context_tokens(features.context_tokens);
  out->set_new_tokens(features.new_tokens);
  out->set_turn_count(features.turn_count);
  out->set_tool_calls(features.tool_calls);
  out->set_recent_tool_errors(features.recent_tool_errors);
  out->set_repeated_actions(features.repeated_actions);
  out->set_tools_offered(features.tools_offered);
  out->set_json_requested(features.json_requested);
  out->set_step_kind(std::string(features.step_kind.view()));
  for (uint8_t i = 0; i < features.recent_tool_count && i < kRecentToolNames; ++i) {
    out->add_recent_tools(std::string(features.recent_tools[i].view()));
  }
  for (float value : features.text_hash) out->add_text_hash(value);
  for (float value : features.char_hash) out->add_char_hash(value);
  for (float value : features.char_classes) out->add_char_classes(value);
  out->set_task_type(std::string(task_type));
}

void FillDecision(const RouterConfig& config, std::string_view session_id, const Choice& choice, v1::Decision* out) {
  const RoutingDecision& decision = choice.decision;
  out->set_session_id(std::string(session_id));
  out->set_step_index(choice.step_index);
  out->set_tier_index(decision.tier);
  out->set_tier_name(config.tiers[decision.tier].name);
  out->set_score(decision.score);
  out->set_threshold(decision.threshold);
  out->set_reason(decision.reason);
  out->set_forced(decision.flags & kDecisionForced);
  out->set_escalated(decision.flags & kDecisionEscalated);
  out->set_budget_held(decision.flags & kDecisionBudgetHeld);
  out->set_defaulted(decision.flags & kDecisionDefaulted);
  out->set_prefill_tier_index(decision.prefill_tier);
  out->set_step_kind(std::string(choice.step_kind.view()));
  out->set_phase_split(decision.flags & kDecisionPhaseSplit);
  out->set_cache_held(decision.flags & kDecisionCacheHeld);
}

// What the serving tier answered, as the text to teacher-force: the assistant's content (not its
// reasoning, which servers return apart), or, for a tool call without content, its arguments.
std::string ActionText(const boost::json::value& response, bool chat) {
  boost::system::error_code ec;
  if (!chat) {
    const boost::json::value* text = response.find_pointer("/choices/0/text", ec);
    return text != nullptr && text->is_string() ? std::string(text->get_string()) : std::string();
  }
  const boost::json::value* content = response.find_pointer("/choices/0/message/content", ec);
  if (content != nullptr && content->is_string() && !content->get_string().empty()) {
    return std::string(content->get_string());
  }
  std::string arguments;
  const boost::json::value* calls = response.find_pointer("/choices/0/message/tool_calls", ec);
  if (calls == nullptr || !calls->is_array()) return arguments;
  for (const boost::json::value& tool_call : calls->get_array()) {
    const boost::json::value* text = tool_call.find_pointer("/function/arguments", ec);
    if (text != nullptr && text->is_string()) arguments += text->get_string();
  }
  return arguments;
}

}  // namespace

void Router::SampleShadowStep(const std::shared_ptr<const RouterConfig>& config, const CompletionCall& call,
                              const Choice& choice, const ServedCall& served, const SessionFeatures& features,
                              std::string_view task_type) {
  // KL(reference || low): the low tier is the one that served, or, when the reference served, the
  // ladder's lowest. A one-tier ladder has nothing to compare.
  const uint32_t reference = config->reference_tier;
  const uint32_t low = served.tier != reference ? served.tier : config->ladder.front();
  if (low == reference) return;
  std::string action = ActionText(served.result.document, call.chat);
  if (action.empty()) return;
  auto job = std::make_unique<ShadowJob>();
  job->tiers = config;
  job->shadow = std::shared_ptr<const ShadowConfig>(config, &config->shadow);
  job->backend = std::shared_ptr<const BackendConfig>(config, &config->backend);
  job->reference_tier = reference;
  job->low_tier = low;
  job->chat = call.chat;
  job->request = call.body;
  job->action = std::move(action);
  v1::TraceRecord& record = job->record;
  record.set_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count());
  record.set_session_id(call.session_id);
  record.set_step_index(choice.step_index);
  FillStepFeatures(features, task_type, record.mutable_features());
  FillDecision(*config, call.session_id, choice, record.mutable_decision());
  v1::Outcome& outcome = *record.mutable_outcome();
  const TierCallResult& result = served.result;
  outcome.set_session_id(call.session_id);
  outcome.set_step_index(choice.step_index);
  outcome.set_tier_name(config->tiers[served.tier].name);
  outcome.set_input_tokens(result.usage.prompt_tokens);
  outcome.set_output_tokens(result.usage.completion_tokens);
  outcome.set_cached_tokens(result.usage.cached_tokens);
  outcome.set_latency_ms(result.latency_ms);
  outcome.set_ttft_ms(result.first_byte_ms);
  outcome.set_status(v1::OUTCOME_STATUS_OK);
  outcome.set_http_status(200);
  shadow_.Enqueue(std::move(job));
}

}  // namespace quantclaw
