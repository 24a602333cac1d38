// A trained step scorer (proto/quantclaw/v1/learned_model.proto), compiled for scoring: validated once
// when it is loaded, then immutable and allocation-free. `quantclaw train/eval/calibrate` score traces
// with the same LearnedModel::Score the `learned` scorer kind runs on live steps, so what was measured
// offline is what runs.
//
// File layout (integers little-endian), written by WriteLearnedModelFile:
//   bytes 0..7    "QCMODEL1": magic and container version ('1')
//   bytes 8..11   u32 payload length
//   bytes 12..15  u32 CRC-32C of the payload
//   bytes 16..    payload: quantclaw.v1.LearnedModel, protobuf binary
// The header exists because a bare protobuf cut at a field boundary still parses: a model file that lost
// its calibrations (fields after the weights) would load without a word. The length and checksum turn any
// truncation or flipped byte into an error naming the file. The payload's own format_version (1) versions
// the message; the container's byte versions the framing.
#ifndef QUANTCLAW_PLUGIN_POLICY_LEARNED_MODEL_H_
#define QUANTCLAW_PLUGIN_POLICY_LEARNED_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quantclaw {

namespace v1 {
class LearnedModel;
}  // namespace v1

inline constexpr std::string_view kLearnedModelFileHeader = "QCMODEL1";
inline constexpr size_t kLearnedModelHeaderBytes = 16;
inline constexpr uint32_t kLearnedModelFormatVersion = 1;
// Bounds a model must keep, so scoring runs in fixed stack scratch and a stray file cannot exhaust memory:
// the widest layer (the input included), the layers, all weights and biases, the file.
inline constexpr int kLearnedModelMaxWidth = 256;
inline constexpr int kLearnedModelMaxLayers = 8;
inline constexpr size_t kLearnedModelMaxParameters = 1u << 20;
inline constexpr size_t kLearnedModelMaxFileBytes = 16u << 20;

class LearnedModel {
 public:
  struct Calibration {
    double budget = 0;      // K
    std::string task_type;  // empty: all steps
    double threshold = 0;   // score at or above which a step goes high
  };

  // Reads and compiles the file at `path`. Errors start with the path, then the byte offset or the
  // field that is wrong ("model.bin: offset 16: ...", "model.bin: mlp.layers[1].weights: ...").
  static absl::StatusOr<std::shared_ptr<const LearnedModel>> Load(const std::string& path);
  // The same from a file's bytes (header included); `name` stands for the file in errors.
  static absl::StatusOr<std::shared_ptr<const LearnedModel>> FromFileBytes(std::string_view name,
                                                                           std::string_view bytes);
  // Validates and compiles a message (the trainer's, before it writes it); `name` prefixes errors.
  static absl::StatusOr<std::shared_ptr<const LearnedModel>> Compile(std::string_view name,
                                                                     const v1::LearnedModel& message);

  // The probability that the step needs the high tier: standardise, forward (ReLU between layers),
  // sigmoid. `features` holds feature_count() floats of feature_set(). Allocation-free, thread-safe.
  // Always in [0, 1]: a sum that overflowed into NaN scores 1 (the high tier).
  float Score(const float* features) const;

  const std::string& feature_set() const { return feature_set_; }
  int feature_count() const { return feature_count_; }
  bool is_mlp() const { return is_mlp_; }
  // Layer widths, input first: {163, 1} for a logistic model, {163, 64, 32, 1} for such an MLP.
  const std::vector<int>& widths() const { return widths_; }
  size_t parameter_count() const { return parameters_.size(); }
  double label_kl_threshold() const { return label_kl_threshold_; }
  const std::vector<Calibration>& calibrations() const { return calibrations_; }
  const std::string& provenance() const { return provenance_; }

  // The calibration for budget K and a task type (empty: the one for all steps), or null.
  const Calibration* FindCalibration(double budget, std::string_view task_type) const;

 private:
  LearnedModel() = default;

  struct Layer {
    int inputs = 0;
    int outputs = 0;
    size_t weights = 0;  // offset into parameters_: outputs rows of inputs floats
    size_t biases = 0;   // offset into parameters_: outputs floats
  };

  std::string feature_set_;
  int feature_count_ = 0;
  bool is_mlp_ = false;
  std::vector<float> mean_;
  std::vector<float> inverse_scale_;  // 1 / feature_scale: a multiply per feature rather than a divide
  std::vector<Layer> layers_;
  std::vector<float> parameters_;  // every weight and bias, contiguous
  std::vector<int> widths_;
  double label_kl_threshold_ = 0;
  std::vector<Calibration> calibrations_;
  std::string provenance_;
};

// The file's bytes for `message` (header, length, checksum, payload). It does not validate: call
// LearnedModel::Compile first when the message comes from code that could be wrong.
std::string SerializeLearnedModelFile(const v1::LearnedModel& message);
// Writes them to `path` through a temporary file renamed into place, so a reader (a router reloading its
// config) never sees half a model.
absl::Status WriteLearnedModelFile(const std::string& path, const v1::LearnedModel& message);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_LEARNED_MODEL_H_
