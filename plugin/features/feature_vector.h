// The learned scorer's input: one flat vector of floats per step. It is computed the same way from a
// live session (SessionFeatures) and from a trace record (v1::StepFeatures), so a model trained and
// evaluated on traces scores live steps exactly as it was measured. A model names the feature set it
// was trained on; a reader that does not compute that set refuses the model.
#ifndef QUANTCLAW_PLUGIN_FEATURES_FEATURE_VECTOR_H_
#define QUANTCLAW_PLUGIN_FEATURES_FEATURE_VECTOR_H_

#include <string>
#include <string_view>

#include "features/features.h"

namespace quantclaw {

namespace v1 {
class StepFeatures;
}  // namespace v1

// Layout of "quantclaw.step.v1", in order:
//   8  log1p of the numeric features, NumericFeature order
//   1  json_requested (0 or 1)
//   8  step kind, hashed one-hot (host-hinted kinds are open-ended, so a hash rather than a list)
//   8  task type, hashed one-hot (empty: all zero)
//   64 text_hash, 64 char_hash, 10 char_classes, as features.h computes them
inline constexpr std::string_view kStepFeaturesV1 = "quantclaw.step.v1";
inline constexpr int kNameHashSlots = 8;
inline constexpr int kStepFeaturesV1Size =
    kNumericFeatureCount + 1 + 2 * kNameHashSlots + kTextHashBuckets + kCharHashBuckets + kCharClassCount;

// The number of floats in a feature set this library computes, or 0 for a set it does not know.
int FeatureSetSize(std::string_view feature_set);

// A readable name for each position ("log1p_context_tokens", "step_kind#3", "char_hash#17", ...), for
// reports and model introspection. Empty past the end.
std::string StepFeatureName(int index);

// The live step's vector; out holds kStepFeaturesV1Size floats. Allocation-free.
void StepFeatureVector(const SessionFeatures& features, std::string_view task_type, float* out);

// A session's features as a trace record keeps them (TraceRecord.features): what the second
// StepFeatureVector reads back into the same vector the first computes live.
void FillStepFeatures(const SessionFeatures& features, std::string_view task_type, v1::StepFeatures* out);

// The same vector from a trace record. False, with *error saying which field, when the record's
// repeated fields have sizes this layout cannot read (a record written before char features existed
// has none of them, and reads as zeros there).
bool StepFeatureVector(const v1::StepFeatures& features, float* out, std::string* error);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_FEATURES_FEATURE_VECTOR_H_
