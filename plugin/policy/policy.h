// The routing policy: forced rules -> scorer chain -> threshold (fixed, or held to a budget) ->
// escalation -> phase split -> decision. Pure over its inputs apart from the budget history, and
// allocation-free, because it runs on every agent step.
#ifndef QUANTCLAW_PLUGIN_POLICY_POLICY_H_
#define QUANTCLAW_PLUGIN_POLICY_POLICY_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"
#include "features/features.h"
#include "policy/budget.h"

namespace quantclaw {

// Decision flags; the same bits as QC_DECISION_* in the C header (abi_impl.cc checks they agree).
inline constexpr uint32_t kDecisionForced = 1u;
inline constexpr uint32_t kDecisionEscalated = 2u;
inline constexpr uint32_t kDecisionBudgetHeld = 4u;
inline constexpr uint32_t kDecisionDefaulted = 8u;
inline constexpr uint32_t kDecisionPhaseSplit = 16u;
inline constexpr uint32_t kDecisionCacheHeld = 32u;

// What the policy remembers about a session between steps, besides its features.
struct SessionPolicyState {
  // QuantClaw task type of the current turn: the host's hint, the rule detector's pick, or empty
  // when the rules declined (then the chain goes on and the default task type is the last resort).
  InlineName task_type;
  int task_type_score = 0;
  int task_type_lead = 0;
  bool task_type_hinted = false;
  bool task_type_from_judge = false;
  InlineName force_tier;       // the host's force_tier hint for the latest step
  bool escalate_next = false;  // the last step's tool call was invalid
  int last_tier = -1;          // the tier that served (or was chosen for) the last step: its cache is warm
};

struct RoutingDecision {
  uint32_t tier = 0;
  uint32_t prefill_tier = 0;
  uint32_t flags = 0;
  double score = -1;
  double threshold = -1;
  char reason[192] = {};
};

// Runs the rule detector on a new user prompt and records the task type for the turn.
void ClassifyTurn(const RouterConfig& config, std::string_view prompt, SessionPolicyState* state);

// Decides the tier for the session's latest step. `budget` is the router's shared score history;
// `tie_draw` in [0, 1) decides a score that falls where the budget splits tied scores (the router
// derives it from the session and step, so a replay decides the same).
void Decide(const RouterConfig& config, const SessionFeatures& features, SessionPolicyState* state,
            BudgetQuantile* budget, double tie_draw, RoutingDecision* decision);

bool ConditionHolds(const Condition& condition, const SessionFeatures& features,
                    const SessionPolicyState& state);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_POLICY_H_
