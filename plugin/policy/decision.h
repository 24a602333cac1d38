// What the policy decides for one step, and what it remembers about a session between steps.
#ifndef QUANTCLAW_PLUGIN_POLICY_DECISION_H_
#define QUANTCLAW_PLUGIN_POLICY_DECISION_H_

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "features/features.h"
#include "util/utf8.h"

namespace quantclaw {

// Decision flags; the same bits as QC_DECISION_* in the C header (abi_impl.cc checks they agree).
inline constexpr uint32_t kDecisionForced = 1u;
inline constexpr uint32_t kDecisionEscalated = 2u;
inline constexpr uint32_t kDecisionBudgetHeld = 4u;
inline constexpr uint32_t kDecisionDefaulted = 8u;
inline constexpr uint32_t kDecisionPhaseSplit = 16u;
inline constexpr uint32_t kDecisionCacheHeld = 32u;
inline constexpr uint32_t kDecisionShadowSampled = 64u;

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

// The reason is a fixed buffer, so deciding allocates nothing; text past its end is cut, at a code point
// boundary (tier names and task types may be any UTF-8).
template <typename... Args>
void SetReason(RoutingDecision* decision, const char* format, Args... args) {
  std::snprintf(decision->reason, sizeof(decision->reason), format, args...);
  decision->reason[DropTruncatedUtf8Tail(decision->reason).size()] = '\0';
}
template <typename... Args>
void AppendReason(RoutingDecision* decision, const char* format, Args... args) {
  const size_t used = std::strlen(decision->reason);
  std::snprintf(decision->reason + used, sizeof(decision->reason) - used, format, args...);
  decision->reason[DropTruncatedUtf8Tail(decision->reason).size()] = '\0';
}

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_DECISION_H_
