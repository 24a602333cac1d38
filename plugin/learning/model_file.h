// LearnedModel files as `quantclaw train` writes them and eval/calibrate/report read them. Every read,
// write, check and score goes through the runtime scorer's own code (policy/learned_model.h: the
// QCMODEL1 container, its validation, LearnedModel::Score), so what eval measures is what routes, and a
// file the trainer writes is one the `learned` scorer loads.
#ifndef QUANTCLAW_PLUGIN_LEARNING_MODEL_FILE_H_
#define QUANTCLAW_PLUGIN_LEARNING_MODEL_FILE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "policy/learned_model.h"
#include "quantclaw/v1/learned_model.pb.h"

namespace quantclaw::learning {

// The runtime scorer's bounds (it scores in fixed stack scratch), which the trainer keeps.
inline constexpr int kModelMaxWidth = kLearnedModelMaxWidth;
inline constexpr int kModelMaxLayers = kLearnedModelMaxLayers;

// The model compiled as the router compiles it; `name` (a path) starts any error.
absl::StatusOr<std::shared_ptr<const LearnedModel>> CompileModel(const v1::LearnedModel& model,
                                                                 const std::string& name);
// Everything scoring relies on: CompileModel's verdict.
absl::Status ValidateModel(const v1::LearnedModel& model, const std::string& name);
// The probability the runtime scorer gives. It compiles the model on every call: for one-off checks;
// loops compile once (CompileModel) and call Score.
double ScoreWithModel(const v1::LearnedModel& model, const float* features);

// The file's message, after the runtime's own checks of the container and the model.
absl::StatusOr<v1::LearnedModel> ReadModelFile(const std::string& path);
// The file's bytes: header and payload.
std::string SerializeModelFile(const v1::LearnedModel& model);
// Written to a temporary file beside `path` and renamed over it, so a reader never sees half a model.
absl::Status WriteModelFile(const v1::LearnedModel& model, const std::string& path);

}  // namespace quantclaw::learning

#endif  // QUANTCLAW_PLUGIN_LEARNING_MODEL_FILE_H_
