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

// Cache-aware switching: a long session moves to another tier only when the score clears the
// boundary by more than `hysteresis`, since that tier's prefix cache is cold for it.
struct GovernorConfig {
  uint64_t min_context_tokens = 4096;
  double hysteresis = 0.1;
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
// the same).
void Decide(const TierTable& tiers, const PolicyConfig& policy, const SessionFeatures& features,
            SessionPolicyState* state, const BudgetHistories* budget, double tie_draw, RoutingDecision* decision);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_POLICY_H_
