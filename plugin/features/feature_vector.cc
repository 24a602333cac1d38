#include "features/feature_vector.h"

#include <algorithm>
#include <cmath>

#include "quantclaw/v1/trace.pb.h"
#include "util/hash.h"

namespace quantclaw {
namespace {

constexpr int kNumericAt = 0;
constexpr int kJsonAt = kNumericAt + kNumericFeatureCount;
constexpr int kStepKindAt = kJsonAt + 1;
constexpr int kTaskTypeAt = kStepKindAt + kNameHashSlots;
constexpr int kTextHashAt = kTaskTypeAt + kNameHashSlots;
constexpr int kCharHashAt = kTextHashAt + kTextHashBuckets;
constexpr int kCharClassesAt = kCharHashAt + kCharHashBuckets;
static_assert(kCharClassesAt + kCharClassCount == kStepFeaturesV1Size);

float Log1p(double value) { return static_cast<float>(std::log1p(std::max(0.0, value))); }

void HashedOneHot(std::string_view name, float* slots) {
  std::fill(slots, slots + kNameHashSlots, 0.0f);
  if (!name.empty()) slots[Fnv1a(name) % kNameHashSlots] = 1.0f;
}

// A repeated field of a trace: the expected size, or empty (a record from before the field existed).
template <typename Repeated>
bool CopyRepeated(const Repeated& values, int expected, float* out, std::string_view field, std::string* error) {
  if (values.empty()) {
    std::fill(out, out + expected, 0.0f);
    return true;
  }
  if (values.size() != expected) {
    *error = "features." + std::string(field) + " has " + std::to_string(values.size()) + " values, expected " +
             std::to_string(expected);
    return false;
  }
  for (int i = 0; i < expected; ++i) out[i] = std::isfinite(values[i]) ? values[i] : 0.0f;
  return true;
}

}  // namespace

int FeatureSetSize(std::string_view feature_set) {
  return feature_set == kStepFeaturesV1 ? kStepFeaturesV1Size : 0;
}

std::string StepFeatureName(int index) {
  if (index < 0 || index >= kStepFeaturesV1Size) return std::string();
  if (index < kJsonAt) {
    return "log1p_" + std::string(NumericFeatureName(static_cast<NumericFeature>(index - kNumericAt)));
  }
  if (index == kJsonAt) return "json_requested";
  if (index < kTaskTypeAt) return "step_kind#" + std::to_string(index - kStepKindAt);
  if (index < kTextHashAt) return "task_type#" + std::to_string(index - kTaskTypeAt);
  if (index < kCharHashAt) return "text_hash#" + std::to_string(index - kTextHashAt);
  if (index < kCharClassesAt) return "char_hash#" + std::to_string(index - kCharHashAt);
  static constexpr const char* kClassNames[kCharClassCount] = {
      "lower", "upper", "digit", "space", "newline", "bracket", "quote", "operator", "punctuation", "non_ascii"};
  return std::string("chars_") + kClassNames[index - kCharClassesAt];
}

void StepFeatureVector(const SessionFeatures& features, std::string_view task_type, float* out) {
  for (int i = 0; i < kNumericFeatureCount; ++i) {
    out[kNumericAt + i] = Log1p(features.Numeric(static_cast<NumericFeature>(i)));
  }
  out[kJsonAt] = features.json_requested ? 1.0f : 0.0f;
  HashedOneHot(features.step_kind.view(), out + kStepKindAt);
  HashedOneHot(task_type, out + kTaskTypeAt);
  std::copy_n(features.text_hash, kTextHashBuckets, out + kTextHashAt);
  std::copy_n(features.char_hash, kCharHashBuckets, out + kCharHashAt);
  std::copy_n(features.char_classes, kCharClassCount, out + kCharClassesAt);
}

void FillStepFeatures(const SessionFeatures& features, std::string_view task_type, v1::StepFeatures* out) {
  out->set_step_index(features.step_index);
  out->set_context_tokens(features.context_tokens);
  out->set_new_tokens(features.new_tokens);
  out->set_turn_count(features.turn_count);
  out->set_tool_calls(features.tool_calls);
  out->set_recent_tool_errors(features.recent_tool_errors);
  out->set_repeated_actions(features.repeated_actions);
  out->set_tools_offered(features.tools_offered);
  out->set_json_requested(features.json_requested);
  out->set_step_kind(std::string(features.step_kind.view()));
  for (uint8_t i = 0; i < features.recent_tool_count && i < kRecentToolNames; ++i) {
    out->add_recent_tools(std::string(features.recent_tools[i].view()));
  }
  for (float value : features.text_hash) out->add_text_hash(value);
  for (float value : features.char_hash) out->add_char_hash(value);
  for (float value : features.char_classes) out->add_char_classes(value);
  out->set_task_type(std::string(task_type));
}

bool StepFeatureVector(const v1::StepFeatures& features, float* out, std::string* error) {
  // The same order as SessionFeatures::Numeric, which NumericFeature names.
  const double numeric[kNumericFeatureCount] = {
      static_cast<double>(features.context_tokens()), static_cast<double>(features.new_tokens()),
      static_cast<double>(features.step_index()),     static_cast<double>(features.turn_count()),
      static_cast<double>(features.tool_calls()),     static_cast<double>(features.recent_tool_errors()),
      static_cast<double>(features.repeated_actions()), static_cast<double>(features.tools_offered())};
  for (int i = 0; i < kNumericFeatureCount; ++i) out[kNumericAt + i] = Log1p(numeric[i]);
  out[kJsonAt] = features.json_requested() ? 1.0f : 0.0f;
  HashedOneHot(features.step_kind(), out + kStepKindAt);
  HashedOneHot(features.task_type(), out + kTaskTypeAt);
  return CopyRepeated(features.text_hash(), kTextHashBuckets, out + kTextHashAt, "text_hash", error) &&
         CopyRepeated(features.char_hash(), kCharHashBuckets, out + kCharHashAt, "char_hash", error) &&
         CopyRepeated(features.char_classes(), kCharClassCount, out + kCharClassesAt, "char_classes", error);
}

}  // namespace quantclaw
