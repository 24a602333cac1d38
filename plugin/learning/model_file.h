// LearnedModel files as `quantclaw train` writes them and eval/calibrate/report read them. Reading checks
// everything a forward pass relies on (version, feature set, every size, finite numbers), so a damaged or
// foreign file is an error naming the file and, where the bytes are at fault, the offset.
//
// File layout, the one the runtime `learned` scorer reads (policy/learned_model.h on the scorer branch;
// integers little-endian):
//   bytes 0..7    "QCMODEL1": magic and container version ('1')
//   bytes 8..11   u32 payload length
//   bytes 12..15  u32 CRC-32C of the payload
//   bytes 16..    payload: quantclaw.v1.LearnedModel, protobuf binary
// A bare protobuf cut at a field boundary still parses (a model that lost its calibrations would load
// without a word); the length and checksum make any cut or flipped byte an error.
// When the runtime scorer lands, ReadModelFile/WriteModelFile/ScoreWithModel become calls to its
// LearnedModel::Load / WriteLearnedModelFile / Score, so eval measures exactly what runs.
#ifndef QUANTCLAW_PLUGIN_LEARNING_MODEL_FILE_H_
#define QUANTCLAW_PLUGIN_LEARNING_MODEL_FILE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "quantclaw/v1/learned_model.pb.h"

namespace quantclaw::learning {

inline constexpr uint32_t kLearnedModelFormatVersion = 1;
inline constexpr std::string_view kModelFileHeader = "QCMODEL1";
inline constexpr size_t kModelHeaderBytes = 16;
// The runtime scorer's bounds (it scores in fixed stack scratch): the widest layer, input included, and
// the number of layers.
inline constexpr int kModelMaxWidth = 256;
inline constexpr int kModelMaxLayers = 8;

// The model's probability that the step whose raw feature vector (its model's feature set, before
// standardisation) is `features` needs the high tier. The model must have passed ValidateModel.
// Training and evaluation score through this one function only; when the runtime `learned` scorer
// (policy/learned_model.h) lands, this becomes a call to its Score so eval measures exactly what runs.
double ScoreWithModel(const v1::LearnedModel& model, const float* features);

// Everything ScoreWithModel relies on; `name` (a path) starts the message.
absl::Status ValidateModel(const v1::LearnedModel& model, const std::string& name);

absl::StatusOr<v1::LearnedModel> ReadModelFile(const std::string& path);
// The file's bytes: header and payload.
std::string SerializeModelFile(const v1::LearnedModel& model);
// Written to a temporary file beside `path` and renamed over it, so a reader never sees half a model.
absl::Status WriteModelFile(const v1::LearnedModel& model, const std::string& path);

}  // namespace quantclaw::learning

#endif  // QUANTCLAW_PLUGIN_LEARNING_MODEL_FILE_H_
