// Router counters, lock-free to update from any thread, written out in the Prometheus text format.
#ifndef QUANTCLAW_PLUGIN_TELEMETRY_METRICS_H_
#define QUANTCLAW_PLUGIN_TELEMETRY_METRICS_H_

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
  std::atomic<uint64_t> outcomes_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> input_tokens_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> output_tokens_by_tier[kMaxTiers] = {};
  std::atomic<uint64_t> invalid_tool_calls{0};
  std::atomic<uint64_t> sessions_created{0};
  std::atomic<uint64_t> sessions_evicted{0};
  std::atomic<uint64_t> sessions_expired{0};
  std::atomic<uint64_t> sessions_ended{0};
  std::atomic<uint64_t> config_reloads{0};
  std::atomic<uint64_t> rejected_calls{0};

  // Tier labels come from `config`: counters are indexed by tier position in the current config.
  std::string PrometheusText(const RouterConfig& config, uint64_t active_sessions) const;
};

inline void Increment(std::atomic<uint64_t>& counter, uint64_t by = 1) {
  counter.fetch_add(by, std::memory_order_relaxed);
}

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_TELEMETRY_METRICS_H_
