#include "telemetry/metrics.h"

#include <functional>

#include "util/strings.h"

namespace quantclaw {
namespace {

uint64_t Read(const std::atomic<uint64_t>& counter) { return counter.load(std::memory_order_relaxed); }

// Label values escape backslash, quote and newline, as the exposition format requires.
std::string LabelValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void Counter(std::string* out, std::string_view name, std::string_view help, uint64_t value) {
  StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n", name, " ", value, "\n");
}

void TierCounter(std::string* out, std::string_view name, std::string_view help, const TierTable& config,
                 const std::atomic<uint64_t>* values) {
  StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n");
  for (size_t i = 0; i < config.tiers.size() && i < kMaxTiers; ++i) {
    StrAppend(out, name, "{tier=\"", LabelValue(config.tiers[i].name), "\"} ", Read(values[i]), "\n");
  }
}

void TierGauge(std::string* out, std::string_view name, std::string_view help, const TierTable& config,
               const std::function<double(size_t)>& value) {
  StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " gauge\n");
  for (size_t i = 0; i < config.tiers.size() && i < kMaxTiers; ++i) {
    StrAppend(out, name, "{tier=\"", LabelValue(config.tiers[i].name), "\"} ", value(i), "\n");
  }
}

}  // namespace

void RouterMetrics::RecordCall(uint32_t tier, double latency_ms, double first_token_ms, uint64_t prompt_tokens,
                               uint64_t cached_tokens, uint64_t completion_tokens) {
  if (tier >= kMaxTiers) return;
  Increment(outcomes_by_tier[tier]);
  Increment(input_tokens_by_tier[tier], prompt_tokens);
  Increment(output_tokens_by_tier[tier], completion_tokens);
  Increment(cached_tokens_by_tier[tier], cached_tokens);
  if (!(latency_ms > 0)) return;
  Increment(timed_calls_by_tier[tier]);
  Increment(latency_us_by_tier[tier], static_cast<uint64_t>(latency_ms * 1000));
  if (first_token_ms > 0) Increment(first_token_us_by_tier[tier], static_cast<uint64_t>(first_token_ms * 1000));
  Increment(uncached_prompt_tokens_by_tier[tier], prompt_tokens > cached_tokens ? prompt_tokens - cached_tokens : 0);
}

std::string RouterMetrics::PrometheusText(const TierTable& config, uint64_t active_sessions,
                                          const std::atomic<int64_t>* breaker_open_until_ns, int64_t now_ns) const {
  std::string out;
  Counter(&out, "quantclaw_steps_total", "Steps fed with qc_on_step.", Read(steps));
  Counter(&out, "quantclaw_decisions_total", "Decisions made by qc_choose_precision.", Read(decisions));
  TierCounter(&out, "quantclaw_decisions_by_tier_total", "Decisions per chosen tier.", config, decisions_by_tier);
  Counter(&out, "quantclaw_decisions_forced_total", "Decisions made by a forced rule or host hint.", Read(forced));
  Counter(&out, "quantclaw_decisions_escalated_total", "Decisions moved up the ladder.", Read(escalated));
  Counter(&out, "quantclaw_decisions_budget_held_total", "Decisions the budget held below the fixed threshold.",
          Read(budget_held));
  Counter(&out, "quantclaw_decisions_defaulted_total", "Decisions where every scorer declined.", Read(defaulted));
  Counter(&out, "quantclaw_decisions_phase_split_total", "Decisions with a separate prefill tier.", Read(phase_split));
  Counter(&out, "quantclaw_decisions_cache_held_total", "Decisions the governor kept on the session's warm tier.",
          Read(cache_held));
  TierCounter(&out, "quantclaw_outcomes_total", "Outcomes reported per tier.", config, outcomes_by_tier);
  TierCounter(&out, "quantclaw_input_tokens_total", "Prompt tokens reported per tier.", config, input_tokens_by_tier);
  TierCounter(&out, "quantclaw_output_tokens_total", "Completion tokens reported per tier.", config,
              output_tokens_by_tier);
  TierCounter(&out, "quantclaw_cached_tokens_total", "Prompt tokens served from the tier's prefix cache.", config,
              cached_tokens_by_tier);
  // DMR Appendix A, eq. 10: wall time of the calls over their completion tokens, pooled.
  TierGauge(&out, "quantclaw_tier_ms_per_output_token", "Pooled latency per completion token (prefill amortised).",
            config, [this](size_t i) {
              uint64_t tokens = Read(output_tokens_by_tier[i]);
              return tokens == 0 ? 0.0 : double(Read(latency_us_by_tier[i])) / 1000.0 / double(tokens);
            });
  TierGauge(&out, "quantclaw_tier_ms_per_prompt_token", "Pooled time to first token per uncached prompt token.",
            config, [this](size_t i) {
              uint64_t tokens = Read(uncached_prompt_tokens_by_tier[i]);
              return tokens == 0 ? 0.0 : double(Read(first_token_us_by_tier[i])) / 1000.0 / double(tokens);
            });
  TierCounter(&out, "quantclaw_http_requests_total", "HTTP requests qc_complete sent per tier (retries included).",
              config, http_requests_by_tier);
  TierCounter(&out, "quantclaw_http_connections_opened_total",
              "Connections those requests opened; the other requests reused a pooled one.", config,
              http_connections_by_tier);
  TierCounter(&out, "quantclaw_http2_requests_total", "Requests answered over HTTP/2.", config, http2_requests_by_tier);
  TierCounter(&out, "quantclaw_call_timeouts_total", "Requests that hit the connect, first-byte or total timeout.",
              config, timeouts_by_tier);
  Counter(&out, "quantclaw_call_cancellations_total", "qc_complete calls the host cancelled from its chunk callback.",
          Read(cancellations));
  TierCounter(&out, "quantclaw_call_retries_total", "qc_complete retries per tier.", config, retries_by_tier);
  TierCounter(&out, "quantclaw_call_failovers_total", "qc_complete calls moved up from this tier.", config,
              failovers_from_tier);
  TierCounter(&out, "quantclaw_call_failures_total", "qc_complete calls to this tier that failed after retries.",
              config, call_failures_by_tier);
  TierCounter(&out, "quantclaw_breaker_rejections_total", "Calls not sent because the tier's breaker was open.",
              config, breaker_rejections_by_tier);
  if (breaker_open_until_ns != nullptr) {
    TierGauge(&out, "quantclaw_breaker_open", "1 while the tier's circuit breaker is open.", config,
              [breaker_open_until_ns, now_ns](size_t i) {
                return breaker_open_until_ns[i].load(std::memory_order_relaxed) > now_ns ? 1.0 : 0.0;
              });
  }
  Counter(&out, "quantclaw_invalid_tool_calls_total", "Outcomes reporting an invalid tool call.",
          Read(invalid_tool_calls));
  Counter(&out, "quantclaw_tool_call_escalations_total",
          "qc_complete steps re-issued on a higher tier because a tool call was invalid.", Read(tool_call_escalations));
  Counter(&out, "quantclaw_judge_calls_total", "Calls to the QuantClaw LLM judge.", Read(judge_calls));
  Counter(&out, "quantclaw_judge_cache_hits_total", "Judge answers served from the prompt-hash cache.",
          Read(judge_cache_hits));
  Counter(&out, "quantclaw_judge_failures_total", "Judge calls that gave no usable task type (default applied).",
          Read(judge_failures));
  Counter(&out, "quantclaw_sessions_created_total", "Sessions created on first sight.", Read(sessions_created));
  Counter(&out, "quantclaw_sessions_evicted_total", "Sessions evicted over limits.max_sessions.", Read(sessions_evicted));
  Counter(&out, "quantclaw_sessions_expired_total", "Sessions expired after limits.session_idle_seconds.",
          Read(sessions_expired));
  Counter(&out, "quantclaw_sessions_ended_total", "Sessions ended by qc_session_end.", Read(sessions_ended));
  Counter(&out, "quantclaw_config_reloads_total", "Successful qc_router_reload calls.", Read(config_reloads));
  Counter(&out, "quantclaw_rejected_calls_total", "ABI calls rejected with a non-OK status.", Read(rejected_calls));
  StrAppend(&out, "# HELP quantclaw_sessions_active Sessions held now.\n# TYPE quantclaw_sessions_active gauge\n",
                  "quantclaw_sessions_active ", active_sessions, "\n");
  return out;
}

}  // namespace quantclaw
