#include "telemetry/metrics.h"

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

void TierCounter(std::string* out, std::string_view name, std::string_view help, const RouterConfig& config,
                 const std::atomic<uint64_t>* values) {
  StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n");
  for (size_t i = 0; i < config.tiers.size() && i < kMaxTiers; ++i) {
    StrAppend(out, name, "{tier=\"", LabelValue(config.tiers[i].name), "\"} ", Read(values[i]), "\n");
  }
}

}  // namespace

std::string RouterMetrics::PrometheusText(const RouterConfig& config, uint64_t active_sessions) const {
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
  TierCounter(&out, "quantclaw_outcomes_total", "Outcomes reported per tier.", config, outcomes_by_tier);
  TierCounter(&out, "quantclaw_input_tokens_total", "Prompt tokens reported per tier.", config, input_tokens_by_tier);
  TierCounter(&out, "quantclaw_output_tokens_total", "Completion tokens reported per tier.", config,
              output_tokens_by_tier);
  Counter(&out, "quantclaw_invalid_tool_calls_total", "Outcomes reporting an invalid tool call.",
          Read(invalid_tool_calls));
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
