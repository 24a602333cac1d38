// Router counters, lock-free to update from any thread, written out in the Prometheus text format.
#ifndef QUANTCLAW_PLUGIN_TELEMETRY_METRICS_H_
#define QUANTCLAW_PLUGIN_TELEMETRY_METRICS_H_

#include <atomic>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace quantclaw {

// Per-tier counters have one slot per tier position. Telemetry does not know the config; the router
// checks that its tier limit fits (static_assert next to its use of RemapTiers).
inline constexpr size_t kMaxTierSlots = 16;

// Every counter, written once. This list makes the fields of RouterMetrics, the table kRouterCounters
// that the reload remap and the Prometheus text walk, so a counter cannot be added to one and forgotten
// in the others.
//   COUNTER(member, exported name, help)       one std::atomic<uint64_t>
//   TIER_COUNTER(member, exported name, help)  one per tier slot, exported with a tier="name" label
// The list's order is the order of the Prometheus text; the gauges (derived, or given by the caller) follow.
#define QUANTCLAW_ROUTER_COUNTERS(COUNTER, TIER_COUNTER)                                                            \
  COUNTER(steps, "quantclaw_steps_total", "Steps fed with qc_on_step.")                                             \
  COUNTER(decisions, "quantclaw_decisions_total", "Decisions made by qc_choose_precision.")                         \
  TIER_COUNTER(decisions_by_tier, "quantclaw_decisions_by_tier_total", "Decisions per chosen tier.")                \
  COUNTER(forced, "quantclaw_decisions_forced_total", "Decisions made by a forced rule or host hint.")              \
  COUNTER(escalated, "quantclaw_decisions_escalated_total", "Decisions moved up the ladder.")                       \
  COUNTER(budget_held, "quantclaw_decisions_budget_held_total",                                                     \
          "Decisions the budget held below the fixed threshold.")                                                   \
  COUNTER(defaulted, "quantclaw_decisions_defaulted_total", "Decisions where every scorer declined.")               \
  COUNTER(phase_split, "quantclaw_decisions_phase_split_total", "Decisions with a separate prefill tier.")          \
  COUNTER(cache_held, "quantclaw_decisions_cache_held_total",                                                       \
          "Decisions the governor kept on the session's warm tier.")                                                \
  TIER_COUNTER(outcomes_by_tier, "quantclaw_outcomes_total", "Outcomes reported per tier.")                         \
  TIER_COUNTER(input_tokens_by_tier, "quantclaw_input_tokens_total", "Prompt tokens reported per tier.")            \
  TIER_COUNTER(output_tokens_by_tier, "quantclaw_output_tokens_total", "Completion tokens reported per tier.")      \
  TIER_COUNTER(cached_tokens_by_tier, "quantclaw_cached_tokens_total",                                              \
               "Prompt tokens served from the tier's prefix cache.")                                                \
  /* Pooled per-tier latency (DMR Appendix A): sums over every timed call, so the coefficients are the */           \
  /* ratios of totals, not means of per-call ratios, and amortise prefill as the paper does. */                     \
  TIER_COUNTER(timed_calls_by_tier, "quantclaw_timed_calls_total",                                                  \
               "Calls per tier that reported a latency; the latency sums cover these.")                             \
  TIER_COUNTER(latency_us_by_tier, "quantclaw_latency_microseconds_total", "Wall time of the timed calls, summed.") \
  TIER_COUNTER(first_token_us_by_tier, "quantclaw_first_token_microseconds_total",                                  \
               "Time to first token of the timed calls, summed.")                                                   \
  TIER_COUNTER(uncached_prompt_tokens_by_tier, "quantclaw_uncached_input_tokens_total",                             \
               "Prompt tokens of the timed calls not served from the prefix cache.")                                \
  /* qc_complete's transport. */                                                                                    \
  TIER_COUNTER(http_requests_by_tier, "quantclaw_http_requests_total",                                              \
               "HTTP requests qc_complete sent per tier (retries included).")                                       \
  TIER_COUNTER(http_connections_by_tier, "quantclaw_http_connections_opened_total",                                 \
               "Connections those requests opened; the other requests reused a pooled one.")                        \
  TIER_COUNTER(http2_requests_by_tier, "quantclaw_http2_requests_total", "Requests answered over HTTP/2.")          \
  TIER_COUNTER(timeouts_by_tier, "quantclaw_call_timeouts_total",                                                   \
               "Requests that hit the connect, first-byte or total timeout.")                                       \
  COUNTER(cancellations, "quantclaw_call_cancellations_total",                                                      \
          "qc_complete calls the host cancelled from its chunk callback.")                                          \
  TIER_COUNTER(retries_by_tier, "quantclaw_call_retries_total", "qc_complete retries per tier.")                    \
  TIER_COUNTER(failovers_from_tier, "quantclaw_call_failovers_total", "qc_complete calls moved up from this tier.") \
  TIER_COUNTER(decision_failovers_from_tier, "quantclaw_decision_failovers_total",                                   \
               "qc_choose_precision decisions moved up from this tier because its circuit breaker was open.")      \
  TIER_COUNTER(call_failures_by_tier, "quantclaw_call_failures_total",                                              \
               "Calls to this tier that failed: qc_complete's after retries, and failures hosts reported.")                                         \
  TIER_COUNTER(breaker_rejections_by_tier, "quantclaw_breaker_rejections_total",                                    \
               "Calls not sent because the tier's breaker was open.")                                               \
  /* Phases and KV hand-offs (backend/handoff.h): a split's prefill call, the decode call, and the cache */        \
  /* moved between them or carried along when a session switches tiers. */                                          \
  TIER_COUNTER(prefill_calls_by_tier, "quantclaw_prefill_calls_total",                                              \
               "Prefill-only calls of executed phase splits, per prefill tier.")                                    \
  TIER_COUNTER(decode_calls_by_tier, "quantclaw_decode_calls_total",                                                \
               "qc_complete calls that decoded the answer, per tier that served it.")                               \
  TIER_COUNTER(handoffs_attempted_by_tier, "quantclaw_handoffs_attempted_total",                                    \
               "KV hand-offs tried into this tier (a split's or a switch's).")                                      \
  TIER_COUNTER(handoffs_succeeded_by_tier, "quantclaw_handoffs_succeeded_total",                                    \
               "KV hand-offs that arrived: the cache is in this tier's slot, or vLLM's transfer is set up.")        \
  TIER_COUNTER(handoffs_fell_back_by_tier, "quantclaw_handoffs_fell_back_total",                                    \
               "KV hand-offs that failed on the way; the call went to this tier cold.")                             \
  COUNTER(handoff_bytes, "quantclaw_handoff_bytes_total", "KV cache bytes moved (llama-server's n_written).")        \
  COUNTER(handoff_tokens, "quantclaw_handoff_tokens_total", "Tokens of KV cache moved (llama-server's n_restored).") \
  COUNTER(handoff_microseconds, "quantclaw_handoff_microseconds_total",                                             \
          "Wall time of the hand-offs' save and restore requests, summed.")                                         \
  COUNTER(handoff_cache_missed, "quantclaw_handoff_cache_missed_total",                                             \
          "llama_slots hand-offs that arrived but whose decode call found under half the moved tokens cached "      \
          "(another session took the slot in between, or the call failed over).")                                  \
  COUNTER(phase_splits_cold, "quantclaw_phase_splits_cold_total",                                                   \
          "Phase splits served by a cold call on the decode tier: the two tiers cannot hand off.")                  \
  COUNTER(invalid_tool_calls, "quantclaw_invalid_tool_calls_total", "Outcomes reporting an invalid tool call.")     \
  COUNTER(tool_call_escalations, "quantclaw_tool_call_escalations_total",                                           \
          "qc_complete steps re-issued on a higher tier because a tool call was invalid.")                          \
  COUNTER(judge_calls, "quantclaw_judge_calls_total", "Calls to the QuantClaw LLM judge.")                          \
  COUNTER(judge_cache_hits, "quantclaw_judge_cache_hits_total", "Judge answers served from the prompt-hash cache.") \
  COUNTER(judge_failures, "quantclaw_judge_failures_total",                                                         \
          "Judge calls that gave no usable task type (default applied).")                                           \
  COUNTER(pattern_budget_exhausted, "quantclaw_pattern_budget_exhausted_total",                                     \
          "Messages whose QuantClaw patterns ran out the step budget (the rest: no match).")                        \
  COUNTER(shadow_sampled, "quantclaw_shadow_sampled_total",                                                      \
          "Steps queued for shadow scoring (queued or dropped): qc_complete's, and hosts' own calls' reported outcomes.")                                        \
  COUNTER(shadow_dropped, "quantclaw_shadow_dropped_total",                                                      \
          "Shadow samples dropped: the queue was full, the router closed before they were scored, or "        \
          "the config was reloaded between a host's decision and its outcome.")                                    \
  COUNTER(shadow_scored, "quantclaw_shadow_scored_total",                                                        \
          "Shadow samples scored on the reference and low tiers (KL measured).")                                   \
  COUNTER(shadow_failed, "quantclaw_shadow_failed_total",                                                        \
          "Shadow samples whose scoring or trace write failed.")                                                   \
  COUNTER(shadow_missing_request, "quantclaw_shadow_missing_request_total",                                    \
          "Shadow-sampled steps of hosts making their own calls whose outcome brought no request and action.")   \
  COUNTER(shadow_unrequested, "quantclaw_shadow_unrequested_total",                                            \
          "Outcomes carrying a request or action for a step that was not shadow-sampled (ignored).")            \
  COUNTER(trace_records_written, "quantclaw_trace_records_written_total", "Labelled steps appended to trace files.") \
  COUNTER(sessions_created, "quantclaw_sessions_created_total", "Sessions created on first sight.")                 \
  COUNTER(sessions_evicted, "quantclaw_sessions_evicted_total", "Sessions evicted over limits.max_sessions.")       \
  COUNTER(sessions_expired, "quantclaw_sessions_expired_total",                                                     \
          "Sessions expired after limits.session_idle_seconds.")                                                    \
  COUNTER(sessions_ended, "quantclaw_sessions_ended_total", "Sessions ended by qc_session_end.")                    \
  COUNTER(config_reloads, "quantclaw_config_reloads_total", "Successful qc_router_reload calls.")                   \
  COUNTER(rejected_calls, "quantclaw_rejected_calls_total", "ABI calls rejected with a non-OK status.")

using TierCounters = std::atomic<uint64_t>[kMaxTierSlots];

// The longest call time (ms) a counter takes: 11.6 days, far above any timeout, and its microseconds
// (1e12) far inside uint64_t.
inline constexpr double kMaxCallMs = 1e9;

struct RouterMetrics {
#define QUANTCLAW_DECLARE_COUNTER(member, name, help) std::atomic<uint64_t> member{0};
#define QUANTCLAW_DECLARE_TIER_COUNTER(member, name, help) TierCounters member = {};
  QUANTCLAW_ROUTER_COUNTERS(QUANTCLAW_DECLARE_COUNTER, QUANTCLAW_DECLARE_TIER_COUNTER)
#undef QUANTCLAW_DECLARE_COUNTER
#undef QUANTCLAW_DECLARE_TIER_COUNTER

  // A reload moves tiers to new indices: every per-tier counter follows its tier. Slot i takes the
  // count of slot previous_index_of_new[i]; -1, or a slot past the span, is a new tier and starts at 0.
  void RemapTiers(std::span<const int> previous_index_of_new);

  // One call's outcome: tokens, and, when it was timed (latency > 0), the pooled latency sums. A time
  // that is not a number or is over kMaxCallMs counts as kMaxCallMs: the sums are integers of
  // microseconds, and a double out of their range does not convert.
  void RecordCall(uint32_t tier, double latency_ms, double first_token_ms, uint64_t prompt_tokens,
                  uint64_t cached_tokens, uint64_t completion_tokens);

  // Per-tier values are labelled with `tier_names[i]` (the tiers of the current config, by position);
  // `open_breakers[i]` is set while tier i's circuit breaker is open.
  std::string PrometheusText(std::span<const std::string_view> tier_names, uint64_t active_sessions,
                             std::bitset<kMaxTierSlots> open_breakers) const;
};

// One row of QUANTCLAW_ROUTER_COUNTERS; exactly one of `total` and `by_tier` is set.
struct CounterDescription {
  std::string_view name;
  std::string_view help;
  std::atomic<uint64_t> RouterMetrics::*total;
  TierCounters RouterMetrics::*by_tier;
};

inline constexpr CounterDescription kRouterCounters[] = {
#define QUANTCLAW_DESCRIBE_COUNTER(member, name, help) {name, help, &RouterMetrics::member, nullptr},
#define QUANTCLAW_DESCRIBE_TIER_COUNTER(member, name, help) {name, help, nullptr, &RouterMetrics::member},
    QUANTCLAW_ROUTER_COUNTERS(QUANTCLAW_DESCRIBE_COUNTER, QUANTCLAW_DESCRIBE_TIER_COUNTER)
#undef QUANTCLAW_DESCRIBE_COUNTER
#undef QUANTCLAW_DESCRIBE_TIER_COUNTER
};

// Counters order no other memory, so the hot path pays one relaxed add and no fence.
inline void Increment(std::atomic<uint64_t>& counter, uint64_t by = 1) {
  counter.fetch_add(by, std::memory_order_relaxed);
}

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_TELEMETRY_METRICS_H_
