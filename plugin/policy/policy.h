// The routing policy, as stages: forced rules -> scorer chain -> thresholds and budget -> governor ->
// escalation -> phase split. Pure over its inputs apart from the budget history, and allocation-free,
// because it runs on every agent step.
#ifndef QUANTCLAW_PLUGIN_POLICY_POLICY_H_
#define QUANTCLAW_PLUGIN_POLICY_POLICY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "config/config.h"
#include "features/features.h"
#include "policy/budget.h"
#include "policy/condition.h"
#include "policy/decision.h"
#include "policy/quantclaw_scorer.h"
#include "policy/scorer.h"
#include "util/validator.h"

namespace quantclaw {

struct ForceRule {
  Condition when;
  uint32_t tier = 0;
};

struct PhaseSplitConfig {
  uint64_t min_prompt_tokens = 8192;
  uint32_t prefill_tier = 0;
  uint32_t decode_tier = 0;
};

// Cache-aware switching for a long session whose score wants another tier than the one its cache is
// warm on. A score that clears the boundary by `hysteresis` or more always moves: quality first. Inside
// that band the move is priced by the latency model (LatencyView): the session stays, or moves (cold,
// with its cache handed off, or by the phase split), whichever is expected to answer sooner. Until both
// tiers are measured, the band holds the session where it is.
struct GovernorConfig {
  uint64_t min_context_tokens = 4096;
  double hysteresis = 0.1;
  double handoff_ms = 20;  // a hand-off's price until one has been measured
};

// The latency model the governor prices a switch with (DMR appendix A's per-tier coefficients): what the
// router has measured per tier and what the config says about hand-offs. Fixed-size, filled by the router
// per decision, so the policy reads measurements without knowing the backend or the telemetry.
struct TierLatency {
  double prompt_ms_per_token = 0;  // time to first token per uncached prompt token; 0: not measured yet
  double decode_ms_per_token = 0;  // time after the first token per output token; 0: not measured yet
  int handoff_group = -1;          // tiers with one id carry a KV cache between them; -1: none
  double handoff_ms = -1;          // mean cost of a hand-off into this tier; < 0: not measured yet
  bool Measured() const { return prompt_ms_per_token > 0 && decode_ms_per_token > 0; }
};
struct LatencyView {
  TierLatency tiers[kMaxTiers];
  double expected_output_tokens = 0;  // mean output tokens per call so far; 0: unknown
};

struct PolicyConfig {
  std::vector<ForceRule> force;
  std::vector<std::unique_ptr<const Scorer>> scorers;  // a chain: the first that does not decline decides
  std::vector<double> thresholds;    // ascending; one fewer than the ladder has tiers
  std::optional<BudgetConfig> budget;
  bool escalate_on_invalid_tool_call = true;
  std::optional<PhaseSplitConfig> phase_split;
  std::optional<GovernorConfig> governor;
  uint32_t default_tier = 0;         // when every scorer declines

  // The chain's QuantClaw scorer, which owns the task types; nullptr when the chain has none.
  const QuantClawScorer* quantclaw_scorer() const { return quantclaw_; }

 private:
  friend void ParsePolicyConfig(const boost::json::object&, const TierTable&, Validator&, PolicyConfig*);
  const QuantClawScorer* quantclaw_ = nullptr;  // one of `scorers`
};

// /policy: force rules, the scorer chain (each kind parses its own section), thresholds, budget,
// escalation, phase split, governor, default tier.
void ParsePolicyConfig(const boost::json::object& root, const TierTable& tiers, Validator& v, PolicyConfig* policy);

// Whether a host's task_type hint names a task type the policy knows.
bool KnowsTaskType(const PolicyConfig& policy, std::string_view task_type);

// A new user turn: its task type (the QuantClaw scorer's rules, then its judge via `judge`, which may be
// null), recorded in `state` for the turn's steps. Returns whether the rules ran out their pattern
// step budget on this prompt.
bool ClassifyTurn(const PolicyConfig& policy, std::string_view prompt, SessionPolicyState* state,
                  TaskTypeJudge* judge);

// Decides the tier for the session's latest step. `budget` is the router's score histories for
// `policy.budget` (made from it; null: no budget); `tie_draw` in [0, 1) decides a score that falls where
// the budget splits tied scores (the router derives it from the session and step, so a replay decides
// the same). `latency` (may be null: not measured) prices the governor's moves.
void Decide(const TierTable& tiers, const PolicyConfig& policy, const SessionFeatures& features,
            SessionPolicyState* state, const BudgetHistories* budget, double tie_draw, RoutingDecision* decision,
            const LatencyView* latency = nullptr);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_POLICY_H_
