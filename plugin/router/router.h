// The router: the current config (swapped atomically on reload), the sessions, the budget history and
// the counters, and the order of one step (on_step, decide, complete, outcome). Calls to tiers are the
// backend's; decisions are the policy's. The C ABI in plugin/abi/ is a thin translation onto this class.
#ifndef QUANTCLAW_PLUGIN_ROUTER_ROUTER_H_
#define QUANTCLAW_PLUGIN_ROUTER_ROUTER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "backend/http_client.h"
#include "backend/handoff.h"
#include "backend/judge_client.h"
#include "backend/resilience.h"
#include "backend/shadow.h"
#include "features/features.h"
#include "messages/completion_request.h"
#include "policy/budget.h"
#include "policy/policy.h"
#include "router/config_snapshot.h"
#include "router/router_config.h"
#include "router/session_table.h"
#include "telemetry/metrics.h"

namespace quantclaw {

namespace v1 {
class Step;
class Outcome;
}  // namespace v1

inline constexpr size_t kMaxSessionIdBytes = 256;

// What an Outcome brings for shadow scoring (request_json, action_text / response_json), checked and
// parsed before the session is locked. Empty when the outcome carries none of it.
struct ShadowPayload {
  bool present = false;
  bool chat = true;
  boost::json::object request;
  std::string action;
};
// Parses and checks the outcome's shadow fields: a request that is no JSON object with "messages" (an
// array) or "prompt" (a string), or a response_json that is no JSON object, is InvalidArgument naming
// the field.
absl::Status ParseShadowPayload(const v1::Outcome& outcome, ShadowPayload* payload);

// What qc_choose_precision returns, in C++ terms.
struct Choice {
  RoutingDecision decision;
  uint64_t step_index = 0;
  InlineName step_kind;
  char tier_name[64] = {};
};

class Router {
 public:
  static absl::StatusOr<std::unique_ptr<Router>> Create(std::string_view config_json);

  absl::Status Reload(std::string_view config_json);
  absl::Status OnStep(const v1::Step& step);
  absl::Status Choose(std::string_view session_id, Choice* choice);
  absl::Status ReportOutcome(const v1::Outcome& outcome);
  absl::Status EndSession(std::string_view session_id);
  // Decides the tier for a full OpenAI request, sends it there and returns the response (streamed
  // chunks go to `on_event` as they arrive, and the aggregate is returned too). The response carries
  // a "quantclaw" object: the tier, the step and the reason.
  absl::Status Complete(const CompletionCall& call, const SseSink* on_event, std::string* response, Choice* choice);
  std::string MetricsText() const;

  std::shared_ptr<const RouterConfig> config() const;
  uint64_t max_message_bytes() const { return max_message_bytes_.load(std::memory_order_relaxed); }
  size_t session_count() const { return sessions_.size(); }
  RouterMetrics& metrics() { return metrics_; }
  // Until no shadow step waits or is being scored (tests); false on timeout.
  bool WaitShadowIdle(std::chrono::milliseconds timeout) { return shadow_.WaitIdle(timeout); }

 private:
  explicit Router(std::shared_ptr<const ConfigSnapshot> snapshot);
  absl::Status ValidateStep(const RouterConfig& config, const v1::Step& step) const;
  std::shared_ptr<Session> SessionFor(std::string_view id, const RouterConfig& config);
  absl::Status ApplyStepLocked(const RouterConfig& config, const v1::Step& step, Session* session);
  void DecideLocked(const ConfigSnapshot& current, std::string_view session_id, Session* session, Choice* choice);
  // qc_choose_precision's failover: off a tier whose circuit breaker is open, up the ladder (qc_complete
  // fails over in its caller instead, trying each tier).
  void MoveOffOpenBreakerLocked(const ConfigSnapshot& current, Session* session, Choice* choice);
  // qc_complete's KV hand-off before the call: the phase split's prefill and move, or the session's warm
  // cache carried to the tier it switches to (`warm_tier`, -1: none). The decision's reason says how it went.
  void RunHandoff(const RouterConfig& config, const CompletionCall& call, int warm_tier, RoutingDecision* decision,
                  HandoffResult* handoff);
  // Queues a qc_complete step the shadow draw picked for scoring, with the features it was decided on.
  void SampleShadowStep(const std::shared_ptr<const RouterConfig>& config, const CompletionCall& call,
                        const Choice& choice, const ServedCall& served, const SessionFeatures& features,
                        std::string_view task_type);
  // Hosts making their own calls: marks the step as drawn (flag and session) when the shadow draw picks it.
  void DrawShadowLocked(const ConfigSnapshot& current, std::string_view session_id, Session* session, Choice* choice);
  // The shadow job a reported outcome completes, or null (counted) when it completes none. `request`
  // and `action` are the outcome's, parsed before the session was locked.
  std::unique_ptr<ShadowJob> ReportedShadowJobLocked(const ConfigSnapshot& current,
                                                     const v1::Outcome& outcome, ShadowPayload& payload,
                                                     Session* session);
  // Breakers and per-tier metrics follow their tiers into a reloaded config.
  void RemapTierState(const ConfigSnapshot& next);
  std::shared_ptr<const ConfigSnapshot> snapshot() const {
    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    return snapshot_;
  }

  // A mutex held for one pointer copy. libstdc++ 12's std::atomic<std::shared_ptr> is itself a spin
  // lock, and ThreadSanitizer flags its relaxed unlock against a concurrent store; this is the same
  // cost and provably ordered.
  mutable std::mutex snapshot_mutex_;
  std::mutex reload_mutex_;
  std::shared_ptr<const ConfigSnapshot> snapshot_;
  std::atomic<uint64_t> max_message_bytes_;
  SessionTable sessions_;
  mutable RouterMetrics metrics_;
  HttpClient http_;
  ResilientCaller caller_{&http_, &metrics_};
  KvHandoff handoff_{&http_, &metrics_};
  HttpJudge judge_{&http_, &metrics_};
  // Last: destroyed first, so its thread has stopped before the client and counters it uses go.
  ShadowSampler shadow_{&metrics_, [this](const ShadowJob& job, const std::atomic<bool>& stopping, ShadowScore* score) {
                          return ScoreShadowJob(http_, job, stopping, score);
                        }};
};

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_ROUTER_ROUTER_H_
