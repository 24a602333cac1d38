#include "policy/condition.h"

#include <boost/json.hpp>

#include "policy/policy.h"
#include "util/strings.h"

namespace quantclaw {
namespace {

namespace json = boost::json;

bool AnyEquals(const std::vector<std::string>& values, std::string_view value) {
  for (const std::string& candidate : values) {
    if (candidate == value) return true;
  }
  return false;
}

bool Compare(Condition::Comparison comparison, double left, double right) {
  switch (comparison) {
    case Condition::Comparison::kGreater: return left > right;
    case Condition::Comparison::kGreaterOrEqual: return left >= right;
    case Condition::Comparison::kLess: return left < right;
    case Condition::Comparison::kLessOrEqual: return left <= right;
  }
  return false;
}

// "context_tokens_gt" -> the feature and the comparison; nothing for a key of another shape.
std::optional<Condition::NumericTest> ParseNumericTest(std::string_view key) {
  static constexpr std::pair<std::string_view, Condition::Comparison> kSuffixes[] = {
      {"_gt", Condition::Comparison::kGreater},
      {"_ge", Condition::Comparison::kGreaterOrEqual},
      {"_lt", Condition::Comparison::kLess},
      {"_le", Condition::Comparison::kLessOrEqual}};
  for (const auto& [suffix, comparison] : kSuffixes) {
    if (key.size() <= suffix.size() || key.substr(key.size() - suffix.size()) != suffix) continue;
    std::string_view name = key.substr(0, key.size() - suffix.size());
    for (int f = 0; f < kNumericFeatureCount; ++f) {
      if (NumericFeatureName(static_cast<NumericFeature>(f)) == name) {
        return Condition::NumericTest{static_cast<NumericFeature>(f), comparison, 0};
      }
    }
  }
  return std::nullopt;
}

}  // namespace

bool ConditionHolds(const Condition& condition, const SessionFeatures& features,
                    const SessionPolicyState& state) {
  for (const Condition::NumericTest& test : condition.numeric) {
    if (!Compare(test.comparison, features.Numeric(test.feature), test.value)) return false;
  }
  if (!condition.step_kinds.empty() && !AnyEquals(condition.step_kinds, features.step_kind.view())) {
    return false;
  }
  if (!condition.last_tools.empty() &&
      (features.recent_tool_count == 0 || !AnyEquals(condition.last_tools, features.recent_tools[0].view()))) {
    return false;
  }
  if (!condition.task_types.empty() && !AnyEquals(condition.task_types, state.task_type.view())) {
    return false;
  }
  if (condition.json_requested && *condition.json_requested != features.json_requested) return false;
  if (condition.tools_requested && *condition.tools_requested != (features.tools_offered > 0)) return false;
  if (condition.last_tool_error && *condition.last_tool_error != features.last_tool_error) return false;
  return true;
}

Condition ParseCondition(const json::value& value, const std::string& pointer, Validator& v) {
  Condition condition;
  const json::object* object = value.if_object();
  if (object == nullptr) {
    v.Error(pointer, StrCat("expected an object, got ", JsonKindName(value)));
    return condition;
  }
  static const std::vector<std::string> kKeys = [] {
    std::vector<std::string> keys = {"step_kind", "last_tool", "task_type", "json_requested",
                                     "tools_requested", "last_tool_error"};
    for (int f = 0; f < kNumericFeatureCount; ++f) {
      for (std::string_view suffix : {"_gt", "_ge", "_lt", "_le"}) {
        keys.push_back(StrCat(NumericFeatureName(static_cast<NumericFeature>(f)), suffix));
      }
    }
    return keys;
  }();
  for (const auto& [key, item] : *object) {
    std::string item_pointer = JoinPointer(pointer, key);
    if (key == "step_kind") {
      condition.step_kinds = v.StringList(item, item_pointer);
    } else if (key == "last_tool") {
      condition.last_tools = v.StringList(item, item_pointer);
    } else if (key == "task_type") {
      condition.task_types = v.StringList(item, item_pointer);
    } else if (key == "json_requested") {
      condition.json_requested = v.Bool(*object, key, pointer);
    } else if (key == "tools_requested") {
      condition.tools_requested = v.Bool(*object, key, pointer);
    } else if (key == "last_tool_error") {
      condition.last_tool_error = v.Bool(*object, key, pointer);
    } else if (auto test = ParseNumericTest(key)) {
      if (auto number = v.Number(*object, key, pointer, -1e18, 1e18, true)) {
        test->value = *number;
        condition.numeric.push_back(*test);
      }
    } else {
      std::string suggestion = DidYouMean(key, std::vector<std::string_view>(kKeys.begin(), kKeys.end()));
      v.Error(item_pointer, StrCat("unknown condition ", Quote(key),
                                   suggestion.empty() ? " (see README.md, Configuration)" : suggestion));
    }
  }
  return condition;
}

}  // namespace quantclaw
