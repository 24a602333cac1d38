// What a sampled step carries to the shadow worker (backend/shadow.h): the request and the action the
// serving tier produced, and the trace record's features, decision and outcome as decided and served.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "features/feature_vector.h"
#include "router/router.h"
#include "quantclaw/v1/outcome.pb.h"
#include "quantclaw/v1/trace.pb.h"

namespace quantclaw {
namespace {

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
  out->set_shadow_sampled(decision.flags & kDecisionShadowSampled);
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

// The job for a step that `served_tier` answered with `action`, minus the record's outcome; null when
// there is nothing to compare (a one-tier ladder) or nothing to score (no action).
std::unique_ptr<ShadowJob> NewShadowJob(const std::shared_ptr<const RouterConfig>& config, std::string_view session_id,
                                        const Choice& choice, uint32_t served_tier, bool chat,
                                        boost::json::object request, std::string action,
                                        const SessionFeatures& features, std::string_view task_type) {
  // KL(reference || low): the low tier is the one that served, or, when the reference served, the
  // ladder's lowest. A one-tier ladder has nothing to compare.
  const uint32_t reference = config->reference_tier;
  const uint32_t low = served_tier != reference ? served_tier : config->ladder.front();
  if (low == reference || action.empty()) return nullptr;
  auto job = std::make_unique<ShadowJob>();
  job->tiers = config;
  job->shadow = std::shared_ptr<const ShadowConfig>(config, &config->shadow);
  job->backend = std::shared_ptr<const BackendConfig>(config, &config->backend);
  job->reference_tier = reference;
  job->low_tier = low;
  job->chat = chat;
  job->request = std::move(request);
  job->action = std::move(action);
  v1::TraceRecord& record = job->record;
  record.set_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count());
  record.set_session_id(std::string(session_id));
  record.set_step_index(choice.step_index);
  FillStepFeatures(features, task_type, record.mutable_features());
  FillDecision(*config, session_id, choice, record.mutable_decision());
  return job;
}

}  // namespace

absl::Status ParseShadowPayload(const v1::Outcome& outcome, ShadowPayload* payload) {
  payload->present = !outcome.request_json().empty() || !outcome.action_text().empty() || !outcome.response_json().empty();
  if (!payload->present) return absl::OkStatus();
  // The whole outcome is already within limits.max_message_bytes (the ABI checks its bytes first).
  boost::system::error_code ec;
  if (!outcome.request_json().empty()) {
    boost::json::value request = boost::json::parse(outcome.request_json(), ec);
    if (ec || !request.is_object()) {
      return absl::InvalidArgumentError("outcome.request_json is not a JSON object (the OpenAI request body sent)");
    }
    boost::json::object& body = request.get_object();
    const boost::json::value* messages = body.if_contains("messages");
    const boost::json::value* prompt = body.if_contains("prompt");
    if (messages != nullptr) {
      if (!messages->is_array() || messages->get_array().empty()) {
        return absl::InvalidArgumentError("outcome.request_json: /messages is not a non-empty array");
      }
      payload->chat = true;
    } else if (prompt != nullptr && prompt->is_string()) {
      payload->chat = false;
    } else {
      return absl::InvalidArgumentError(
          "outcome.request_json has neither /messages (a chat request) nor a string /prompt (a completion)");
    }
    payload->request = std::move(body);
  }
  if (!outcome.action_text().empty()) {
    payload->action = outcome.action_text();
  } else if (!outcome.response_json().empty()) {
    boost::json::value response = boost::json::parse(outcome.response_json(), ec);
    if (ec || !response.is_object()) {
      return absl::InvalidArgumentError("outcome.response_json is not a JSON object (the tier's response body)");
    }
    payload->action = ActionText(response, payload->chat);
  }
  return absl::OkStatus();
}

void Router::SampleShadowStep(const std::shared_ptr<const RouterConfig>& config, const CompletionCall& call,
                              const Choice& choice, const ServedCall& served, const SessionFeatures& features,
                              std::string_view task_type) {
  std::unique_ptr<ShadowJob> job =
      NewShadowJob(config, call.session_id, choice, served.tier, call.chat, call.body,
                   ActionText(served.result.document, call.chat), features, task_type);
  if (job == nullptr) return;
  v1::Outcome& outcome = *job->record.mutable_outcome();
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

void Router::DrawShadowLocked(const ConfigSnapshot& current, std::string_view session_id, Session* session,
                              Choice* choice) {
  const RouterConfig& config = *current.config;
  if (!config.shadow.enabled() || !ShadowDrawn(session_id, choice->step_index, config.shadow.rate)) return;
  choice->decision.flags |= kDecisionShadowSampled;
  session->shadow_pending = true;
  session->shadow_step = choice->step_index;
  session->shadow_decision = choice->decision;
  session->shadow_generation = current.generation;
}

std::unique_ptr<ShadowJob> Router::ReportedShadowJobLocked(const ConfigSnapshot& current, const v1::Outcome& outcome,
                                                           ShadowPayload& payload, Session* session) {
  const std::shared_ptr<const RouterConfig>& config = current.config;
  // The outcome is the drawn step's when it names that step, or names none while that step is still
  // the session's latest (a step_index of 0 is "not given" in proto3).
  const bool drawn_step = session->shadow_pending && session->features.step_index == session->shadow_step &&
                          (outcome.step_index() == session->shadow_step || outcome.step_index() == 0);
  if (!drawn_step) {
    if (payload.present) Increment(metrics_.shadow_unrequested);
    return nullptr;
  }
  session->shadow_pending = false;
  const bool served = outcome.status() == v1::OUTCOME_STATUS_OK || outcome.status() == v1::OUTCOME_STATUS_UNSPECIFIED;
  if (!served) return nullptr;  // the call failed: no action to score, and nothing the host left out
  if (payload.request.empty() || payload.action.empty()) {
    Increment(metrics_.shadow_missing_request);
    return nullptr;
  }
  if (session->shadow_generation != current.generation) {
    // A reload between the decision and its outcome: the decision's tier indices belong to the old
    // ladder, and the step is no longer the one the new config would score. Dropped, counted as drawn
    // and dropped, like a step the queue had no room for.
    Increment(metrics_.shadow_sampled);
    Increment(metrics_.shadow_dropped);
    return nullptr;
  }
  Choice choice;
  choice.decision = session->shadow_decision;
  choice.step_index = session->shadow_step;
  choice.step_kind = session->features.step_kind;
  int served_tier = outcome.tier_name().empty() ? -1 : config->FindTier(outcome.tier_name());
  if (served_tier < 0) served_tier = static_cast<int>(choice.decision.tier);
  std::unique_ptr<ShadowJob> job =
      NewShadowJob(config, session->id, choice, static_cast<uint32_t>(served_tier), payload.chat, std::move(payload.request),
                   std::move(payload.action), session->features, session->policy.task_type.view());
  if (job == nullptr) return nullptr;
  v1::Outcome& recorded = *job->record.mutable_outcome();
  recorded = outcome;
  // The trace keeps what the outcome measured, not the text (the job holds that while it waits).
  recorded.clear_request_json();
  recorded.clear_action_text();
  recorded.clear_response_json();
  recorded.set_step_index(choice.step_index);
  recorded.set_tier_name(config->tiers[served_tier].name);
  return job;
}

}  // namespace quantclaw
