// LearnedModel files as `quantclaw train` writes them and eval/calibrate/report read them: the
// quantclaw.v1.LearnedModel message, protobuf binary, nothing around it. Reading checks everything a
// forward pass relies on (version, feature set, every size, finite numbers), so a damaged or foreign
// file is an error naming the file and, where the bytes are at fault, the offset.
#ifndef QUANTCLAW_PLUGIN_LEARNING_MODEL_FILE_H_
#define QUANTCLAW_PLUGIN_LEARNING_MODEL_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "quantclaw/v1/learned_model.pb.h"

namespace quantclaw::learning {

inline constexpr uint32_t kLearnedModelFormatVersion = 1;

// The model's probability that the step whose raw feature vector (its model's feature set, before
// standardisation) is `features` needs the high tier. The model must have passed ValidateModel.
// Training and evaluation score through this one function only; when the runtime `learned` scorer
// (policy/learned_model.h) lands, this becomes a call to its Score so eval measures exactly what runs.
double ScoreWithModel(const v1::LearnedModel& model, const float* features);

// Everything ScoreWithModel relies on; `name` (a path) starts the message.
absl::Status ValidateModel(const v1::LearnedModel& model, const std::string& name);

absl::StatusOr<v1::LearnedModel> ReadModelFile(const std::string& path);
// Written to a temporary file beside `path` and renamed over it, so a reader never sees half a model.
absl::Status WriteModelFile(const v1::LearnedModel& model, const std::string& path);

}  // namespace quantclaw::learning

#endif  // QUANTCLAW_PLUGIN_LEARNING_MODEL_FILE_H_
