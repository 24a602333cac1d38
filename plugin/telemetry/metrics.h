// Router counters, lock-free to update from any thread, written out in the Prometheus text format.
#ifndef QUANTCLAW_PLUGIN_TELEMETRY_METRICS_H_
#define QUANTCLAW_PLUGIN_TELEMETRY_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "config/config.h"

namespace quantclaw {

struct RouterMetrics {
  std::atomic<uint64_t> steps{0};
  std::atomic<uint64_t> decisions{0};
  std::atomic<uint64_t> decisions_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> forced{0};
  std::atomic<uint64_t> escalated{0};
  std::atomic<uint64_t> budget_held{0};
  std::atomic<uint64_t> defaulted{0};
  std::atomic<uint64_t> phase_split{0};
  std::atomic<uint64_t> cache_held{0};
  std::atomic<uint64_t> outcomes_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> input_tokens_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> output_tokens_by_tier[kMaxTiers] = {};
  // Pooled per-tier latency (DMR Appendix A): sums over every call, so the coefficients are the
  // ratios of totals, not means of per-call ratios, and amortise prefill as the paper does.
  std::atomic<uint64_t> latency_us_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> first_token_us_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> uncached_prompt_tokens_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> cached_tokens_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> timed_calls_by_tier[kMaxTiers] = {};
  // qc_complete's transport.
  std::atomic<uint64_t> http_requests_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> http_connections_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> http2_requests_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> timeouts_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> cancellations{0};
  std::atomic<uint64_t> retries_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> failovers_from_tier[kMaxTiers] = {};
  std::atomic<uint64_t> breaker_rejections_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> call_failures_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> invalid_tool_calls{0};
  std::atomic<uint64_t> tool_call_escalations{0};
  std::atomic<uint64_t> judge_calls{0};
  std::atomic<uint64_t> judge_cache_hits{0};
  std::atomic<uint64_t> judge_failures{0};
  std::atomic<uint64_t> sessions_created{0};
  std::atomic<uint64_t> sessions_evicted{0};
  std::atomic<uint64_t> sessions_expired{0};
  std::atomic<uint64_t> sessions_ended{0};
  std::atomic<uint64_t> config_reloads{0};
  std::atomic<uint64_t> rejected_calls{0};

  // Every per-tier array, for a reload that moves tiers to new indices (Router::RemapTierState). A new
  // per-tier counter goes here too.
  std::array<std::atomic<uint64_t>*, 17> PerTier() {
    return {decisions_by_tier, outcomes_by_tier, input_tokens_by_tier, output_tokens_by_tier, latency_us_by_tier,
            first_token_us_by_tier, uncached_prompt_tokens_by_tier, cached_tokens_by_tier, timed_calls_by_tier,
            http_requests_by_tier, http_connections_by_tier, http2_requests_by_tier, timeouts_by_tier,
            retries_by_tier, failovers_from_tier, breaker_rejections_by_tier, call_failures_by_tier};
  }

  // One call's outcome: tokens, and, when it was timed (latency > 0), the pooled latency sums.
  void RecordCall(uint32_t tier, double latency_ms, double first_token_ms, uint64_t prompt_tokens,
                  uint64_t cached_tokens, uint64_t completion_tokens);

  // Tier labels come from `config`: counters are indexed by tier position in the current config.
  std::string PrometheusText(const TierTable& config, uint64_t active_sessions,
                             const std::atomic<int64_t>* breaker_open_until_ns = nullptr, int64_t now_ns = 0) const;
};

inline void Increment(std::atomic<uint64_t>& counter, uint64_t by = 1) {
  counter.fetch_add(by, std::memory_order_relaxed);
}

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_TELEMETRY_METRICS_H_
