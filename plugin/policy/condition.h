// A condition over a step's features and the session's policy state ("when" in force rules and rule
// scorers): every key present must hold.
#ifndef QUANTCLAW_PLUGIN_POLICY_CONDITION_H_
#define QUANTCLAW_PLUGIN_POLICY_CONDITION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "features/features.h"
#include "util/validator.h"

namespace quantclaw {

struct SessionPolicyState;

struct Condition {
  enum class Comparison : uint8_t { kGreater, kGreaterOrEqual, kLess, kLessOrEqual };
  struct NumericTest {
    NumericFeature feature;
    Comparison comparison;
    double value;
  };
  std::vector<NumericTest> numeric;
  std::vector<std::string> step_kinds;  // any of
  std::vector<std::string> last_tools;  // any of: the newest tool called
  std::vector<std::string> task_types;  // any of: the session's QuantClaw task type
  std::optional<bool> json_requested;
  std::optional<bool> tools_requested;
  std::optional<bool> last_tool_error;
};

// Allocation-free: it runs on every step.
bool ConditionHolds(const Condition& condition, const SessionFeatures& features, const SessionPolicyState& state);

// The condition at `pointer` ({"step_kind": "search", "context_tokens_gt": 16000, ...}).
Condition ParseCondition(const boost::json::value& value, const std::string& pointer, Validator& v);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_CONDITION_H_
