#include "router/router.h"

#include <cstring>

#include "util/hash.h"
#include "util/strings.h"
#include "quantclaw/v1/outcome.pb.h"
#include "quantclaw/v1/step.pb.h"

namespace quantclaw {
namespace {

SessionLimits LimitsOf(const RouterConfig& config) {
  return {config.limits.max_sessions, static_cast<int64_t>(config.limits.session_idle_seconds * 1e9)};
}

void Copy(std::string_view from, char* to, size_t capacity) {
  size_t length = std::min(from.size(), capacity - 1);
  std::memcpy(to, from.data(), length);
  to[length] = '\0';
}

}  // namespace

Router::Router(std::shared_ptr<const Snapshot> snapshot)
    : snapshot_(snapshot), max_message_bytes_(snapshot->config->limits.max_message_bytes) {}

std::shared_ptr<const Router::Snapshot> Router::MakeSnapshot(std::shared_ptr<const RouterConfig> config,
                                                            const Snapshot* previous) {
  auto snapshot = std::make_shared<Snapshot>();
  if (config->policy.budget) {
    // Keep the score history across a reload unless the window it is kept over changed.
    if (previous != nullptr && previous->budget != nullptr &&
        previous->budget->window() == config->policy.budget->window) {
      snapshot->budget = previous->budget;
    } else {
      snapshot->budget = std::make_shared<BudgetQuantile>(config->policy.budget->window);
    }
  }
  snapshot->config = std::move(config);
  return snapshot;
}

absl::StatusOr<std::unique_ptr<Router>> Router::Create(std::string_view config_json) {
  auto config = LoadRouterConfig(config_json);
  if (!config.ok()) return config.status();
  return std::unique_ptr<Router>(new Router(MakeSnapshot(*std::move(config), nullptr)));
}

absl::Status Router::Reload(std::string_view config_json) {
  auto config = LoadRouterConfig(config_json);
  if (!config.ok()) return config.status();
  auto previous = snapshot();
  max_message_bytes_.store((*config)->limits.max_message_bytes, std::memory_order_relaxed);
  auto next = MakeSnapshot(*std::move(config), previous.get());
  {
    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    snapshot_.swap(next);
  }
  // `next` now holds the old snapshot; it is released here, outside the lock.
  Increment(metrics_.config_reloads);
  return absl::OkStatus();
}

std::shared_ptr<const RouterConfig> Router::config() const { return snapshot()->config; }

absl::Status Router::OnStep(const v1::Step& step) {
  const std::string& id = step.session_id();
  if (id.empty()) return absl::InvalidArgumentError("step.session_id is empty");
  if (id.size() > kMaxSessionIdBytes) {
    return absl::InvalidArgumentError(
        StrCat("step.session_id is ", id.size(), " bytes; at most ", kMaxSessionIdBytes));
  }
  auto current = snapshot();
  const RouterConfig& config = *current->config;
  // Validate everything before touching the session, so a rejected step changes nothing.
  const std::string& force_tier = step.hints().force_tier();
  if (!force_tier.empty() && config.FindTier(force_tier) < 0) {
    return absl::InvalidArgumentError(StrCat("step.hints.force_tier names no tier: \"", force_tier, "\""));
  }
  const std::string& task_type_hint = step.hints().task_type();
  const QuantClawScorer* quantclaw = config.quantclaw_scorer();
  if (!task_type_hint.empty() && quantclaw != nullptr && quantclaw->detector->FindTaskType(task_type_hint) < 0) {
    return absl::InvalidArgumentError(
        StrCat("step.hints.task_type names no task type of the quantclaw scorer: \"", task_type_hint, "\""));
  }

  SessionTable::Counters counters;
  std::shared_ptr<Session> session = sessions_.FindOrCreate(id, LimitsOf(config), MonotonicNowNs(), &counters);
  Increment(metrics_.sessions_created, counters.created);
  Increment(metrics_.sessions_evicted, counters.evicted);
  Increment(metrics_.sessions_expired, counters.expired);

  std::lock_guard<std::mutex> lock(session->mutex);
  SessionFeatures& features = session->features;
  if (step.has_step_index() && features.steps_seen > 0 && step.step_index() <= features.step_index) {
    return absl::FailedPreconditionError(StrCat("step_index ", step.step_index(), " of session \"", id,
                                                      "\" is not after the last one seen (", features.step_index,
                                                      "); steps carry only new messages, in order"));
  }
  std::string prompt;
  bool new_turn = UpdateFeatures(step, &features, &prompt);
  SessionPolicyState& policy = session->policy;
  if (!task_type_hint.empty()) {
    policy.task_type.Assign(task_type_hint);
    policy.task_type_hinted = true;
  } else if (new_turn) {
    ClassifyTurn(config, prompt, &policy);
  }
  policy.force_tier.Assign(force_tier);
  Increment(metrics_.steps);
  return absl::OkStatus();
}

absl::Status Router::Choose(std::string_view session_id, Choice* choice) {
  auto current = snapshot();
  const RouterConfig& config = *current->config;
  SessionTable::Counters counters;
  std::shared_ptr<Session> session = sessions_.Find(session_id, LimitsOf(config), MonotonicNowNs(), &counters);
  Increment(metrics_.sessions_expired, counters.expired);
  if (session == nullptr) {
    return absl::NotFoundError(StrCat("unknown session \"", session_id.substr(0, kMaxSessionIdBytes),
                                            "\": no qc_on_step yet, ended, evicted or expired"));
  }
  std::lock_guard<std::mutex> lock(session->mutex);
  const double tie_draw = UnitInterval(Mix64(Fnv1a(session_id) ^ session->features.step_index));
  Decide(config, session->features, &session->policy, current->budget.get(), tie_draw, &choice->decision);
  choice->step_index = session->features.step_index;
  choice->step_kind = session->features.step_kind;
  Copy(config.tiers[choice->decision.tier].name, choice->tier_name, sizeof(choice->tier_name));

  const uint32_t flags = choice->decision.flags;
  Increment(metrics_.decisions);
  Increment(metrics_.decisions_by_tier[choice->decision.tier]);
  if (flags & kDecisionForced) Increment(metrics_.forced);
  if (flags & kDecisionEscalated) Increment(metrics_.escalated);
  if (flags & kDecisionBudgetHeld) Increment(metrics_.budget_held);
  if (flags & kDecisionDefaulted) Increment(metrics_.defaulted);
  if (flags & kDecisionPhaseSplit) Increment(metrics_.phase_split);
  return absl::OkStatus();
}

absl::Status Router::ReportOutcome(const v1::Outcome& outcome) {
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
    return absl::NotFoundError(StrCat("unknown session \"", outcome.session_id().substr(0, kMaxSessionIdBytes),
                                            "\": no qc_on_step yet, ended, evicted or expired"));
  }
  std::lock_guard<std::mutex> lock(session->mutex);
  if (outcome.has_tool_call_valid() && !outcome.tool_call_valid()) {
    Increment(metrics_.invalid_tool_calls);
    if (config.policy.escalate_on_invalid_tool_call) session->policy.escalate_next = true;
  }
  if (tier >= 0) {
    Increment(metrics_.outcomes_by_tier[tier]);
    Increment(metrics_.input_tokens_by_tier[tier], outcome.input_tokens());
    Increment(metrics_.output_tokens_by_tier[tier], outcome.output_tokens());
  }
  return absl::OkStatus();
}

absl::Status Router::EndSession(std::string_view session_id) {
  if (!sessions_.Erase(session_id)) {
    return absl::NotFoundError(
        StrCat("unknown session \"", session_id.substr(0, kMaxSessionIdBytes), "\""));
  }
  Increment(metrics_.sessions_ended);
  return absl::OkStatus();
}

std::string Router::MetricsText() const {
  return metrics_.PrometheusText(*snapshot()->config, sessions_.size());
}

}  // namespace quantclaw
