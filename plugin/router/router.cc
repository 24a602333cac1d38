#include "router/router.h"

#include <algorithm>
#include <bitset>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "util/clock.h"
#include "util/hash.h"
#include "util/strings.h"
#include "quantclaw/v1/outcome.pb.h"
#include "quantclaw/v1/step.pb.h"

namespace quantclaw {
namespace {

// The largest step_index a step can carry; a step without one after it would wrap to 0.
constexpr uint64_t kLastStepIndex = std::numeric_limits<uint64_t>::max();

SessionLimits LimitsOf(const RouterConfig& config) {
  return {config.limits.max_sessions, static_cast<int64_t>(config.limits.session_idle_seconds * 1e9)};
}

absl::Status UnknownSession(std::string_view id) {
  return absl::NotFoundError(StrCat("unknown session \"", id.substr(0, kMaxSessionIdBytes),
                                    "\": no qc_on_step yet, ended, evicted or expired"));
}

// The host's times of a call become integer sums in the metrics; refuse what no call can take.
absl::Status CheckOutcomeTimes(const v1::Outcome& outcome) {
  for (const auto& [name, value] : {std::pair<const char*, double>{"latency_ms", outcome.latency_ms()},
                                    std::pair<const char*, double>{"ttft_ms", outcome.ttft_ms()}}) {
    if (std::isfinite(value) && value >= 0 && value <= kMaxCallMs) continue;
    return absl::InvalidArgumentError(
        StrCat("outcome.", name, " is ", value, ": a call's time is a finite number of ms from 0 to ", kMaxCallMs));
  }
  if (outcome.has_episode_reward() && !std::isfinite(outcome.episode_reward())) {
    return absl::InvalidArgumentError(StrCat("outcome.episode_reward is ", outcome.episode_reward(),
                                             ": a reward is a finite number"));
  }
  return absl::OkStatus();
}

// The governor's latency model from the pooled per-tier sums (telemetry) and the config's hand-off groups.
// A tier counts as measured once its calls have timed some uncached prompt and some output; the hand-off
// price is the mean over every hand-off that arrived (save and restore requests).
void FillLatencyView(const RouterConfig& config, const RouterMetrics& metrics, LatencyView* view) {
  const auto read = [](const std::atomic<uint64_t>& counter) { return counter.load(std::memory_order_relaxed); };
  uint64_t handoffs = 0, outputs = 0, outcomes = 0;
  const size_t count = std::min(config.tiers.size(), kMaxTiers);
  for (size_t i = 0; i < count; ++i) {
    handoffs += read(metrics.handoffs_succeeded_by_tier[i]);
    outputs += read(metrics.output_tokens_by_tier[i]);
    outcomes += read(metrics.timed_calls_by_tier[i]);
  }
  const double handoff_ms = handoffs == 0 ? -1 : double(read(metrics.handoff_microseconds)) / 1000.0 / double(handoffs);
  view->expected_output_tokens = outcomes == 0 ? 0 : double(outputs) / double(outcomes);
  for (size_t i = 0; i < count; ++i) {
    TierLatency& tier = view->tiers[i];
    const uint64_t prompt_tokens = read(metrics.uncached_prompt_tokens_by_tier[i]);
    const uint64_t output_tokens = read(metrics.output_tokens_by_tier[i]);
    const uint64_t first_token_us = read(metrics.first_token_us_by_tier[i]);
    const uint64_t latency_us = read(metrics.latency_us_by_tier[i]);
    tier.prompt_ms_per_token = prompt_tokens == 0 ? 0 : double(first_token_us) / 1000.0 / double(prompt_tokens);
    tier.decode_ms_per_token = output_tokens == 0 || latency_us <= first_token_us
                                   ? 0
                                   : double(latency_us - first_token_us) / 1000.0 / double(output_tokens);
    tier.handoff_ms = handoff_ms;
    tier.handoff_group = -1;
    if (config.tiers[i].handoff.kind == HandoffKind::kNone) continue;
    // The group's id: its first tier.
    for (size_t j = 0; j <= i; ++j) {
      if (j == i || config.CanHandOff(static_cast<uint32_t>(i), static_cast<uint32_t>(j))) {
        tier.handoff_group = static_cast<int>(j);
        break;
      }
    }
  }
}

}  // namespace

Router::Router(std::shared_ptr<const ConfigSnapshot> snapshot)
    : snapshot_(snapshot), max_message_bytes_(snapshot->config->limits.max_message_bytes) {}

absl::StatusOr<std::unique_ptr<Router>> Router::Create(std::string_view config_json) {
  auto config = LoadRouterConfig(config_json);
  if (!config.ok()) return config.status();
  return std::unique_ptr<Router>(new Router(ConfigSnapshot::Make(*std::move(config), nullptr)));
}

absl::Status Router::Reload(std::string_view config_json) {
  auto config = LoadRouterConfig(config_json);
  if (!config.ok()) return config.status();
  std::lock_guard<std::mutex> reloading(reload_mutex_);  // one reload at a time: generations stay in order
  max_message_bytes_.store((*config)->limits.max_message_bytes, std::memory_order_relaxed);
  auto previous = snapshot();
  auto next = ConfigSnapshot::Make(*std::move(config), previous.get());
  {
    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    // Calls still on the old snapshot may count a few events under the old indices meanwhile.
    RemapTierState(*next);
    snapshot_.swap(next);
  }
  // `next` now holds the old snapshot; it is released here, outside the lock.
  Increment(metrics_.config_reloads);
  return absl::OkStatus();
}

std::shared_ptr<const RouterConfig> Router::config() const { return snapshot()->config; }

absl::Status Router::ValidateStep(const RouterConfig& config, const v1::Step& step) const {
  const std::string& id = step.session_id();
  if (id.empty()) return absl::InvalidArgumentError("step.session_id is empty");
  if (id.size() > kMaxSessionIdBytes) {
    return absl::InvalidArgumentError(StrCat("step.session_id is ", id.size(), " bytes; at most ", kMaxSessionIdBytes));
  }
  const std::string& force_tier = step.hints().force_tier();
  if (!force_tier.empty() && config.FindTier(force_tier) < 0) {
    return absl::InvalidArgumentError(StrCat("step.hints.force_tier names no tier: \"", force_tier, "\""));
  }
  const std::string& task_type_hint = step.hints().task_type();
  if (!task_type_hint.empty() && config.quantclaw_scorer() != nullptr && !KnowsTaskType(config.policy, task_type_hint)) {
    return absl::InvalidArgumentError(
        StrCat("step.hints.task_type names no task type of the quantclaw scorer: \"", task_type_hint, "\""));
  }
  return absl::OkStatus();
}

std::shared_ptr<Session> Router::SessionFor(std::string_view id, const RouterConfig& config) {
  SessionTable::Counters counters;
  std::shared_ptr<Session> session = sessions_.FindOrCreate(id, LimitsOf(config), MonotonicNowNs(), &counters);
  Increment(metrics_.sessions_created, counters.created);
  Increment(metrics_.sessions_evicted, counters.evicted);
  Increment(metrics_.sessions_expired, counters.expired);
  return session;
}

absl::Status Router::ApplyStepLocked(const RouterConfig& config, const v1::Step& step, Session* session) {
  SessionFeatures& features = session->features;
  if (step.has_step_index() && features.steps_seen > 0 && step.step_index() <= features.step_index) {
    return absl::FailedPreconditionError(StrCat("step_index ", step.step_index(), " of session \"", step.session_id(),
                                                "\" is not after the last one seen (", features.step_index,
                                                "); steps carry only new messages, in order"));
  }
  if (!step.has_step_index() && features.steps_seen > 0 && features.step_index == kLastStepIndex) {
    // The next index would wrap to 0 and reopen every index below: the session's order ends here.
    return absl::FailedPreconditionError(StrCat("session \"", step.session_id(), "\" is at step_index ",
                                                kLastStepIndex, ", the last one; no step can follow it"));
  }
  if (session->shadow_pending) {
    // The drawn step's outcome never came (or came without its request): the next step moves the
    // features on, so that step can no longer be scored.
    session->shadow_pending = false;
    Increment(metrics_.shadow_missing_request);
  }
  std::string prompt;
  bool new_turn = UpdateFeatures(step, &features, &prompt);
  SessionPolicyState& policy = session->policy;
  const std::string& task_type_hint = step.hints().task_type();
  if (!task_type_hint.empty()) {
    policy.task_type.Assign(task_type_hint);
    policy.task_type_hinted = true;
  } else if (new_turn) {
    // With a judge configured, only this session waits on it (its own lock); other sessions go on.
    if (ClassifyTurn(config.policy, prompt, &policy, &judge_)) Increment(metrics_.pattern_budget_exhausted);
  }
  policy.force_tier.Assign(step.hints().force_tier());
  Increment(metrics_.steps);
  return absl::OkStatus();
}

// Telemetry keeps a slot per tier position without knowing the config; every tier needs one.
static_assert(kMaxTiers <= kMaxTierSlots);

void Router::RemapTierState(const ConfigSnapshot& next) {
  if (next.TiersUnmoved()) return;
  caller_.RemapTiers(next.previous_index_of_new);
  metrics_.RemapTiers(next.previous_index_of_new);
}

void Router::DecideLocked(const ConfigSnapshot& current, std::string_view session_id, Session* session, Choice* choice) {
  const RouterConfig& config = *current.config;
  const double tie_draw = UnitInterval(Mix64(Fnv1a(session_id) ^ session->features.step_index));
  current.AdaptSession(session);
  // A call holding an older config than the session has seen decides without the warm tier, whose index
  // belongs to the newer config, and leaves the session's own as it was.
  const bool older_config = session->tier_generation > current.generation;
  const int warm = session->policy.last_tier;
  if (older_config) session->policy.last_tier = -1;
  LatencyView latency;
  if (config.policy.governor) FillLatencyView(config, metrics_, &latency);
  Decide(config, config.policy, session->features, &session->policy, current.budget.get(), tie_draw, &choice->decision,
         config.policy.governor ? &latency : nullptr);
  if (older_config) session->policy.last_tier = warm;
  choice->step_index = session->features.step_index;
  choice->step_kind = session->features.step_kind;
  CopyTruncated(config.tiers[choice->decision.tier].name, choice->tier_name, sizeof(choice->tier_name));

  const uint32_t flags = choice->decision.flags;
  Increment(metrics_.decisions);
  Increment(metrics_.decisions_by_tier[choice->decision.tier]);
  if (flags & kDecisionForced) Increment(metrics_.forced);
  if (flags & kDecisionEscalated) Increment(metrics_.escalated);
  if (flags & kDecisionBudgetHeld) Increment(metrics_.budget_held);
  if (flags & kDecisionDefaulted) Increment(metrics_.defaulted);
  if (flags & kDecisionPhaseSplit) Increment(metrics_.phase_split);
  if (flags & kDecisionCacheHeld) Increment(metrics_.cache_held);
}

absl::Status Router::OnStep(const v1::Step& step) {
  auto current = snapshot();
  const RouterConfig& config = *current->config;
  // Validate everything before touching the session, so a rejected step changes nothing.
  if (absl::Status status = ValidateStep(config, step); !status.ok()) return status;
  std::shared_ptr<Session> session = SessionFor(step.session_id(), config);
  std::lock_guard<std::mutex> lock(session->mutex);
  return ApplyStepLocked(config, step, session.get());
}

absl::Status Router::Choose(std::string_view session_id, Choice* choice) {
  auto current = snapshot();
  const RouterConfig& config = *current->config;
  SessionTable::Counters counters;
  std::shared_ptr<Session> session = sessions_.Find(session_id, LimitsOf(config), MonotonicNowNs(), &counters);
  Increment(metrics_.sessions_expired, counters.expired);
  if (session == nullptr) {
    return UnknownSession(session_id);
  }
  std::lock_guard<std::mutex> lock(session->mutex);
  DecideLocked(*current, session_id, session.get(), choice);
  MoveOffOpenBreakerLocked(*current, session.get(), choice);
  DrawShadowLocked(*current, session_id, session.get(), choice);
  return absl::OkStatus();
}

void Router::MoveOffOpenBreakerLocked(const ConfigSnapshot& current, Session* session, Choice* choice) {
  const RouterConfig& config = *current.config;
  RoutingDecision& decision = choice->decision;
  const uint32_t chosen = decision.tier;
  if (!caller_.BreakerOpen(chosen)) return;
  const char* name = config.tiers[chosen].name.c_str();
  const int tier = config.backend.failover ? caller_.FirstTierLettingCallsThrough(config, chosen) : -1;
  if (tier < 0) {
    AppendReason(&decision, config.backend.failover ? "; every tier from %s up has its circuit breaker open"
                                                    : "; %s's circuit breaker is open (backend.failover is off)",
                 name);
    return;
  }
  AppendReason(&decision, "; failover: %s's circuit breaker is open -> %s", name, config.tiers[tier].name.c_str());
  if (decision.prefill_tier == chosen) decision.prefill_tier = static_cast<uint32_t>(tier);
  decision.tier = static_cast<uint32_t>(tier);
  CopyTruncated(config.tiers[tier].name, choice->tier_name, sizeof(choice->tier_name));
  Increment(metrics_.decision_failovers_from_tier[chosen]);
  // The call goes there: that tier's cache is the one the session warms.
  if (session->tier_generation <= current.generation) session->policy.last_tier = tier;
}

absl::Status Router::Complete(const CompletionCall& call, const SseSink* on_event, std::string* response,
                              Choice* choice) {
  auto current = snapshot();
  const RouterConfig& config = *current->config;
  v1::Step step;
  // The id and hints are checked before the session is touched; the messages wait for the lock,
  // which says how many of them are new.
  step.set_session_id(call.session_id);
  step.mutable_hints()->set_task_type(call.task_type);
  step.mutable_hints()->set_force_tier(call.force_tier);
  if (absl::Status status = CheckCompletionCall(call); !status.ok()) return status;
  if (absl::Status status = ValidateStep(config, step); !status.ok()) return status;
  std::shared_ptr<Session> session = SessionFor(call.session_id, config);
  int warm_tier = -1;
  std::optional<SessionFeatures> shadow_features;  // set when the shadow draw picks this step
  InlineName shadow_task_type;
  {
    std::lock_guard<std::mutex> lock(session->mutex);
    step.Clear();
    StepFromRequest(call, session->messages_seen, &step);
    if (absl::Status status = ApplyStepLocked(config, step, session.get()); !status.ok()) return status;
    if (const boost::json::value* messages = call.body.if_contains("messages"); messages && messages->is_array()) {
      session->messages_seen = static_cast<uint32_t>(messages->get_array().size());
    }
    // The tier whose cache holds the session before this step (none when the session's tier belongs to a
    // newer config than this call's).
    if (session->tier_generation <= current->generation) warm_tier = session->policy.last_tier;
    DecideLocked(*current, call.session_id, session.get(), choice);
    if (config.shadow.enabled() && ShadowDrawn(call.session_id, choice->step_index, config.shadow.rate)) {
      choice->decision.flags |= kDecisionShadowSampled;  // the library itself reports this one's outcome
      shadow_features = session->features;
      shadow_task_type = session->policy.task_type;
    }
  }
  // The session is free again while the tier answers: the next step's bookkeeping is the host's call.
  HandoffResult handoff;
  RunHandoff(config, call, warm_tier, &choice->decision, &handoff);
  const TierCallExtras extras = handoff.Extras(config);
  ServedCall served;
  if (absl::Status status = caller_.Call(config, config.backend, config.policy.escalate_on_invalid_tool_call,
                                         choice->decision.tier, call, on_event, &served, &extras);
      !status.ok()) {
    return status;
  }
  Increment(metrics_.decode_calls_by_tier[served.tier]);
  if (served.tier != choice->decision.tier) {
    // Failover or escalation served it elsewhere: that tier's cache now holds the session.
    std::lock_guard<std::mutex> lock(session->mutex);
    current->SetLastTier(session.get(), static_cast<int>(served.tier));
  }
  TierCallResult& result = served.result;
  metrics_.RecordCall(served.tier, result.latency_ms, result.first_byte_ms, result.usage.prompt_tokens,
                      result.usage.cached_tokens, result.usage.completion_tokens);
  boost::json::object extra{{"tier", config.tiers[served.tier].name},
                            {"tier_index", served.tier},
                            {"step_index", choice->step_index},
                            {"reason", std::string_view(choice->decision.reason)},
                            {"time_to_first_byte_ms", result.first_byte_ms},
                            {"latency_ms", result.latency_ms},
                            {"attempts", served.attempts}};
  if (served.failover_from >= 0) extra["failover_from"] = config.tiers[served.failover_from].name;
  if (served.escalated_from >= 0) extra["escalated_from"] = config.tiers[served.escalated_from].name;
  if (choice->decision.flags & kDecisionPhaseSplit) extra["prefill_tier"] = config.tiers[choice->decision.prefill_tier].name;
  if (handoff.attempted || !handoff.failure.empty()) {
    boost::json::object described = handoff.ToJson(config);
    // What the decode call found in its cache: the proof that the hand-off paid off (llama-server's
    // timings; the OpenAI usage's cached tokens elsewhere).
    described["decode_cached_tokens"] = result.usage.cached_tokens;
    if (const auto* timings = result.document.get_object().if_contains("timings"); timings && timings->is_object()) {
      if (const auto* prompt_n = timings->get_object().if_contains("prompt_n")) described["decode_prompt_n"] = *prompt_n;
    }
    extra["handoff"] = std::move(described);
    if (handoff.ok && handoff.kind == HandoffKind::kLlamaSlots && result.usage.cached_tokens * 2 < handoff.tokens) {
      Increment(metrics_.handoff_cache_missed);
    }
  }
  result.document.get_object()["quantclaw"] = std::move(extra);
  *response = boost::json::serialize(result.document);
  if (shadow_features) SampleShadowStep(current->config, call, *choice, served, *shadow_features, shadow_task_type.view());
  return absl::OkStatus();
}

void Router::RunHandoff(const RouterConfig& config, const CompletionCall& call, int warm_tier,
                        RoutingDecision* decision, HandoffResult* handoff) {
  const uint32_t decode_tier = decision->tier;
  if ((decision->flags & kDecisionPhaseSplit) && decision->prefill_tier != decode_tier) {
    if (caller_.BreakerOpen(decision->prefill_tier)) {
      // A tier known to be down would only cost the prefill call's timeout.
      handoff->use = "split";
      handoff->from = decision->prefill_tier;
      handoff->to = decode_tier;
      handoff->failure = StrCat(config.tiers[decision->prefill_tier].name, "'s circuit breaker is open");
      Increment(metrics_.phase_splits_cold);
    } else {
      handoff_.Split(config, config.backend, decision->prefill_tier, decode_tier, call, handoff);
    }
  } else if (warm_tier >= 0 && static_cast<uint32_t>(warm_tier) != decode_tier &&
             config.CanCarry(static_cast<uint32_t>(warm_tier), decode_tier) &&
             !caller_.BreakerOpen(static_cast<uint32_t>(warm_tier))) {
    handoff_.Carry(config, config.backend, static_cast<uint32_t>(warm_tier), decode_tier, call, handoff);
  }
  if (handoff->ok) {
    AppendReason(decision, "; %s hand-off %s -> %s", handoff->use, config.tiers[handoff->from].name.c_str(),
                 config.tiers[handoff->to].name.c_str());
  } else if (!handoff->failure.empty()) {
    AppendReason(decision, "; %s cold: %s", handoff->use, handoff->failure.c_str());
  }
}

absl::Status Router::ReportOutcome(const v1::Outcome& outcome) {
  if (absl::Status status = CheckOutcomeTimes(outcome); !status.ok()) return status;
  ShadowPayload payload;  // parsed before the session is locked: other calls of the session need not wait
  if (absl::Status status = ParseShadowPayload(outcome, &payload); !status.ok()) return status;
  auto current = snapshot();
  const RouterConfig& config = *current->config;
  int tier = -1;
  if (!outcome.tier_name().empty()) {
    tier = config.FindTier(outcome.tier_name());
    if (tier < 0) {
      return absl::InvalidArgumentError(StrCat("outcome.tier_name names no tier: \"", outcome.tier_name(), "\""));
    }
  }
  SessionTable::Counters counters;
  std::shared_ptr<Session> session =
      sessions_.Find(outcome.session_id(), LimitsOf(config), MonotonicNowNs(), &counters);
  Increment(metrics_.sessions_expired, counters.expired);
  if (session == nullptr) {
    return UnknownSession(outcome.session_id());
  }
  std::unique_ptr<ShadowJob> shadow_job;
  {
    std::lock_guard<std::mutex> lock(session->mutex);
    if (outcome.has_tool_call_valid() && !outcome.tool_call_valid()) {
      Increment(metrics_.invalid_tool_calls);
      if (config.policy.escalate_on_invalid_tool_call) session->policy.escalate_next = true;
    }
    if (tier >= 0) {
      // A host that makes its own calls feeds the breakers qc_complete uses, so that its next decisions
      // move off a tier that is down.
      if (!caller_.RecordReportedOutcome(static_cast<uint32_t>(tier), outcome.status(), outcome.http_status(),
                                         config.backend)) {
        current->SetLastTier(session.get(), tier);  // the tier that really served: its cache is the warm one
      }
      metrics_.RecordCall(static_cast<uint32_t>(tier), outcome.latency_ms(), outcome.ttft_ms(), outcome.input_tokens(),
                          outcome.cached_tokens(), outcome.output_tokens());
    }
    shadow_job = ReportedShadowJobLocked(*current, outcome, payload, session.get());
  }
  // Queued outside the session's lock; never blocks (dropped and counted when the queue is full).
  if (shadow_job != nullptr) shadow_.Enqueue(std::move(shadow_job));
  return absl::OkStatus();
}

absl::Status Router::EndSession(std::string_view session_id) {
  if (!sessions_.Erase(session_id)) {
    return UnknownSession(session_id);
  }
  Increment(metrics_.sessions_ended);
  return absl::OkStatus();
}

std::string Router::MetricsText() const {
  const std::shared_ptr<const ConfigSnapshot> current = snapshot();
  std::vector<std::string_view> tier_names;
  std::bitset<kMaxTierSlots> open_breakers;
  const int64_t now = MonotonicNowNs();
  for (size_t i = 0; i < current->config->tiers.size() && i < kMaxTiers; ++i) {
    tier_names.push_back(current->config->tiers[i].name);
    open_breakers[i] = caller_.breaker_open_until_ns()[i].load(std::memory_order_relaxed) > now;
  }
  return metrics_.PrometheusText(tier_names, sessions_.size(), open_breakers);
}

}  // namespace quantclaw
