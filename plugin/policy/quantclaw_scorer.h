// The QuantClaw scorer: the QuantClaw plugin's task types (its `quant` object, decided as its rule
// detector decides, see policy/task_types.h), each served by the tier of its precision. Task types are
// per turn: a new user prompt is classified once (ClassifyTurn), by the rules and, when they decline and
// the plugin's config names one, by its LLM judge.
//   {"kind": "quantclaw", "quant": {...}, "mode": "improved", "precision_tiers": {"4bit": "int4", ...}}
#ifndef QUANTCLAW_PLUGIN_POLICY_QUANTCLAW_SCORER_H_
#define QUANTCLAW_PLUGIN_POLICY_QUANTCLAW_SCORER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "policy/decision.h"
#include "policy/scorer.h"
#include "policy/task_types.h"

namespace quantclaw {

// The QuantClaw plugin's LLM judge: asked for the task type when the rules decline.
struct JudgeConfig {
  std::string url;      // the chat-completions URL derived from the plugin's "endpoint"
  std::string model;
  std::string api_key;  // the plugin's "apiKey" (its config carries the key itself)
  std::string ca_file;  // "caFile": PEM CA certificates for an https judge; empty: the system's
  uint32_t cache_ttl_ms = 300000;
  uint32_t timeout_ms = 3000;  // after which the default task type applies
  std::string system_prompt;   // names every task type with its description
};

// Asks the judge. The policy owns this interface and the backend implements it (HTTP, a cache), so
// the policy never depends on how a tier is called.
class TaskTypeJudge {
 public:
  virtual ~TaskTypeJudge() = default;
  // The id of a task type of `detector` that the judge picked for `prompt`, or "" when it could not
  // be asked, did not answer in time, or named no such task type.
  virtual std::string Classify(const JudgeConfig& judge, const TaskTypeDetector& detector,
                               std::string_view prompt) = 0;
};

class QuantClawScorer final : public Scorer {
 public:
  std::shared_ptr<const TaskTypeDetector> detector;
  TaskTypeMode mode = TaskTypeMode::kImproved;
  // Tier serving each QuantClaw precision (index by Precision); -1 when none does (it escalates).
  std::array<int, kPrecisionCount> precision_tier = {-1, -1, -1};
  std::optional<JudgeConfig> judge;  // when "detectors" names a judge and "judge" has endpoint and model

  // The session's task type -> its precision's tier; declines when the turn has no task type.
  ScorerVerdict Score(const ScoringContext& context, size_t position, RoutingDecision* decision) const override;
  // The plugin's last resort: its default task type.
  ScorerVerdict Fallback(const ScoringContext& context, RoutingDecision* decision) const override;

  // Classifies a new user turn into `state`: the rule detector, then the judge (`judge_client`, may be
  // null) when the rules declined. Only this session waits on the judge. Returns whether the prompt
  // ran out the message's pattern step budget (TaskTypeMatch::pattern_budget_exhausted).
  bool ClassifyTurn(std::string_view prompt, SessionPolicyState* state, TaskTypeJudge* judge_client) const;
};

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_QUANTCLAW_SCORER_H_
