// The resilience layer of qc_complete: a step goes to its tier and, while the host has seen nothing of
// the answer, is retried there (with backoff), failed over up the ladder when the tier is down, and
// escalated one rung when the tier's tool call is invalid. Per-tier circuit breakers keep calls away
// from a tier that keeps failing.
#ifndef QUANTCLAW_PLUGIN_BACKEND_RESILIENCE_H_
#define QUANTCLAW_PLUGIN_BACKEND_RESILIENCE_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "backend/backend_config.h"
#include "backend/http_client.h"
#include "backend/tier_client.h"
#include "config/config.h"
#include "messages/completion_request.h"
#include "quantclaw/v1/outcome.pb.h"
#include "telemetry/metrics.h"

namespace quantclaw {

// The call as it was served.
struct ServedCall {
  uint32_t tier = 0;        // the tier that answered
  uint32_t attempts = 0;    // HTTP attempts on that tier
  int failover_from = -1;   // the first tier that was down, when the call moved up for that
  int escalated_from = -1;  // the first tier whose tool call was invalid, when the call moved up for that
  TierCallResult result;
};

class ResilientCaller {
 public:
  ResilientCaller(HttpClient* http_client, RouterMetrics* metrics) : http_(http_client), metrics_(metrics) {}

  // Calls `first_tier`, then up the ladder as `backend` allows. `escalate_invalid_tool_calls`: a tool
  // call from a tier below the top is held back until it checks out. Returns the last failure when no
  // tier served.
  absl::Status Call(const TierTable& tiers, const BackendConfig& backend, bool escalate_invalid_tool_calls,
                    uint32_t first_tier, const CompletionCall& call, const SseSink* on_event, ServedCall* served,
                    const TierCallExtras* extras = nullptr);

  // Breakers follow their tiers by name into a reloaded config (-1: a new tier, whose breaker is closed).
  void RemapTiers(const std::array<int, kMaxTiers>& previous_index_of_new);

  // What a host that makes its own calls reported (qc_report_outcome): a tier that failed the call
  // (unreachable, timed out, or an error with HTTP 5xx/429 or none) feeds its breaker as a failed
  // qc_complete call does; a tier that served it closes its breaker; a request the tier refused (4xx)
  // and a cancellation say nothing about its health. Returns whether the tier failed.
  bool RecordReportedOutcome(uint32_t tier, v1::OutcomeStatus status, uint32_t http_status,
                             const BackendConfig& backend);

  // qc_choose_precision's failover: `tier` when its breaker lets calls through, else the first tier up
  // the ladder whose breaker does (as qc_complete fails over), or -1 when none does.
  int FirstTierLettingCallsThrough(const TierTable& tiers, uint32_t tier) const;

  // Whether calls to `tier` are held off now (open, and not yet time for the one trial call).
  bool BreakerOpen(uint32_t tier) const;

  // When each tier's breaker closes again (0 or past: closed), for the metrics.
  const std::atomic<int64_t>* breaker_open_until_ns() const { return breaker_open_until_ns_; }

 private:
  void CloseBreaker(uint32_t tier);
  void RecordBreakerFailure(uint32_t tier, const BackendConfig& backend);
  // One HTTP attempt in the metrics: the request, the connections it opened, HTTP/2, a timeout or a
  // cancellation.
  void RecordTransport(uint32_t tier, const absl::Status& status, const TierCallResult& result);
  static void Backoff(const BackendConfig& backend, uint32_t attempt);

  HttpClient* http_;
  RouterMetrics* metrics_;
  // By tier index (remapped by name on reload).
  std::atomic<uint32_t> consecutive_failures_[kMaxTiers] = {};
  std::atomic<int64_t> breaker_open_until_ns_[kMaxTiers] = {};
};

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_BACKEND_RESILIENCE_H_
