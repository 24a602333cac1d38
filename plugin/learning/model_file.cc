#include "learning/model_file.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "features/feature_vector.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "util/crc32c.h"

namespace quantclaw::learning {
namespace {

using absl::StrCat;

// Where protobuf's parser gave up: it says only "failed", so walk the wire format ourselves to find the
// first field that runs past the end or has an impossible tag. -1 when every field is whole (then the
// fault is in a nested message or a value, and the top-level walk cannot place it).
int64_t FirstBadOffset(const std::string& bytes) {
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(bytes.data()),
                                               static_cast<int>(bytes.size()));
  while (true) {
    const int at = input.CurrentPosition();
    const uint32_t tag = input.ReadTag();
    if (tag == 0) return input.ConsumedEntireMessage() || at == static_cast<int>(bytes.size()) ? -1 : at;
    if (!google::protobuf::internal::WireFormatLite::SkipField(&input, tag)) return at;
  }
}

bool AllFinite(const google::protobuf::RepeatedField<float>& values) {
  for (float value : values) {
    if (!std::isfinite(value)) return false;
  }
  return true;
}

uint32_t GetU32(std::string_view bytes, size_t at) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

void PutU32(std::string* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

float Sigmoid(double logit) { return static_cast<float>(1.0 / (1.0 + std::exp(-logit))); }

}  // namespace

double ScoreWithModel(const v1::LearnedModel& model, const float* features) {
  const int count = static_cast<int>(model.feature_count());
  std::vector<float> x(count);
  for (int i = 0; i < count; ++i) x[i] = (features[i] - model.feature_mean(i)) / model.feature_scale(i);
  if (model.has_logistic()) {
    double logit = model.logistic().bias();
    for (int i = 0; i < count; ++i) logit += static_cast<double>(model.logistic().weights(i)) * x[i];
    return Sigmoid(logit);
  }
  std::vector<float> next;
  const auto& layers = model.mlp().layers();
  for (int l = 0; l < layers.size(); ++l) {
    const v1::DenseLayer& layer = layers[l];
    next.assign(layer.outputs(), 0.0f);
    const float* weights = layer.weights().data();
    for (uint32_t o = 0; o < layer.outputs(); ++o) {
      double sum = layer.biases(o);
      const float* row = weights + static_cast<size_t>(o) * layer.inputs();
      for (uint32_t i = 0; i < layer.inputs(); ++i) sum += static_cast<double>(row[i]) * x[i];
      const bool last = l + 1 == layers.size();
      next[o] = last ? static_cast<float>(sum) : std::max(0.0f, static_cast<float>(sum));
    }
    x.swap(next);
  }
  return Sigmoid(x[0]);
}

absl::Status ValidateModel(const v1::LearnedModel& model, const std::string& name) {
  auto invalid = [&](auto&&... parts) { return absl::InvalidArgumentError(StrCat(name, ": ", parts...)); };
  if (model.format_version() != kLearnedModelFormatVersion) {
    return invalid("format_version ", model.format_version(), ", this build reads ", kLearnedModelFormatVersion,
                   model.format_version() == 0 ? " (empty, or not a LearnedModel)" : "");
  }
  const int set_size = FeatureSetSize(model.feature_set());
  if (set_size == 0) return invalid("feature_set \"", model.feature_set(), "\" is not one this build computes");
  const int count = static_cast<int>(model.feature_count());
  if (count != set_size) return invalid("feature_count ", count, ", but ", model.feature_set(), " has ", set_size);
  if (model.feature_mean_size() != count || model.feature_scale_size() != count) {
    return invalid("feature_mean/feature_scale have ", model.feature_mean_size(), "/", model.feature_scale_size(),
                   " values, expected ", count);
  }
  if (!AllFinite(model.feature_mean()) || !AllFinite(model.feature_scale())) return invalid("non-finite standardisation");
  for (float scale : model.feature_scale()) {
    if (!(scale > 0)) return invalid("a feature_scale is not positive");
  }
  if (!std::isfinite(model.label_kl_threshold()) || model.label_kl_threshold() < 0) {
    return invalid("label_kl_threshold ", model.label_kl_threshold(), " is not a KL divergence");
  }
  if (model.has_logistic()) {
    if (model.logistic().weights_size() != count) {
      return invalid("logistic has ", model.logistic().weights_size(), " weights, expected ", count);
    }
    if (!AllFinite(model.logistic().weights()) || !std::isfinite(model.logistic().bias())) {
      return invalid("logistic has non-finite weights");
    }
    return absl::OkStatus();
  }
  if (!model.has_mlp()) return invalid("neither a logistic nor an mlp model");
  const auto& layers = model.mlp().layers();
  if (layers.empty()) return invalid("mlp has no layers");
  if (layers.size() > kModelMaxLayers) return invalid("mlp has ", layers.size(), " layers, at most ", kModelMaxLayers);
  uint32_t inputs = static_cast<uint32_t>(count);
  for (int l = 0; l < layers.size(); ++l) {
    const v1::DenseLayer& layer = layers[l];
    if (layer.inputs() != inputs) return invalid("mlp layer ", l, " has ", layer.inputs(), " inputs, expected ", inputs);
    if (layer.outputs() == 0 || layer.outputs() > static_cast<uint32_t>(kModelMaxWidth)) return invalid("mlp layer ", l, " has ", layer.outputs(), " outputs");
    if (static_cast<uint64_t>(layer.weights_size()) != static_cast<uint64_t>(layer.inputs()) * layer.outputs() ||
        layer.biases_size() != static_cast<int>(layer.outputs())) {
      return invalid("mlp layer ", l, " has ", layer.weights_size(), " weights and ", layer.biases_size(),
                     " biases for ", layer.inputs(), "x", layer.outputs());
    }
    if (!AllFinite(layer.weights()) || !AllFinite(layer.biases())) return invalid("mlp layer ", l, " has non-finite values");
    inputs = layer.outputs();
  }
  if (inputs != 1) return invalid("mlp's last layer has ", inputs, " outputs, expected 1");
  for (int i = 0; i < model.calibrations_size(); ++i) {
    const v1::Calibration& calibration = model.calibrations(i);
    if (!(calibration.budget() > 0 && calibration.budget() < 1) || !std::isfinite(calibration.threshold())) {
      return invalid("calibrations[", i, "] has budget ", calibration.budget(), " and threshold ", calibration.threshold());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::LearnedModel> ReadModelFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(StrCat(path, ": cannot read: ", std::strerror(errno)));
  std::ostringstream content;
  content << file.rdbuf();
  const std::string bytes = content.str();
  auto invalid = [&](auto&&... parts) { return absl::InvalidArgumentError(StrCat(path, ": ", parts...)); };
  const std::string_view magic = kModelFileHeader.substr(0, kModelFileHeader.size() - 1);
  if (bytes.empty()) return invalid("offset 0: empty file, not a model");
  const size_t compared = std::min(bytes.size(), magic.size());
  if (bytes.compare(0, compared, magic.substr(0, compared)) != 0) {
    return invalid("offset 0: not a quantclaw model file (it starts with \"", std::string(kModelFileHeader), "\")");
  }
  if (bytes.size() > magic.size() && bytes[magic.size()] != kModelFileHeader.back()) {
    const unsigned char version = static_cast<unsigned char>(bytes[magic.size()]);
    char shown[8];
    std::snprintf(shown, sizeof(shown), version >= 0x20 && version < 0x7F ? "'%c'" : "0x%02X", version);
    return invalid("offset ", magic.size(), ": model file version ", shown, ", this build reads '",
                   std::string(kModelFileHeader.substr(magic.size())), "'");
  }
  if (bytes.size() < kModelHeaderBytes) {
    return invalid("offset ", bytes.size(), ": truncated in the ", kModelHeaderBytes, "-byte header");
  }
  const uint32_t length = GetU32(bytes, 8), stored_crc = GetU32(bytes, 12);
  const std::string_view payload = std::string_view(bytes).substr(kModelHeaderBytes);
  if (length > payload.size()) {
    return invalid("offset ", bytes.size(), ": truncated: the header promises ", length, " payload bytes, ",
                   payload.size(), " are present");
  }
  if (length < payload.size()) {
    return invalid("offset ", kModelHeaderBytes + length, ": ", payload.size() - length,
                   " bytes past the payload the header declares");
  }
  if (const uint32_t crc = Crc32c(payload); crc != stored_crc) {
    return invalid("offset ", kModelHeaderBytes, ": payload checksum ", absl::Hex(crc, absl::kZeroPad8),
                   " does not match the header's ", absl::Hex(stored_crc, absl::kZeroPad8), ": the file is damaged");
  }
  v1::LearnedModel model;
  if (!model.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    const int64_t at = FirstBadOffset(std::string(payload));
    return at >= 0 ? invalid("offset ", kModelHeaderBytes + at, ": malformed LearnedModel (protobuf)")
                   : invalid("payload does not parse as a LearnedModel (protobuf)");
  }
  if (absl::Status status = ValidateModel(model, path); !status.ok()) return status;
  return model;
}

std::string SerializeModelFile(const v1::LearnedModel& model) {
  const std::string payload = model.SerializeAsString();
  std::string bytes(kModelFileHeader);
  PutU32(&bytes, static_cast<uint32_t>(payload.size()));
  PutU32(&bytes, Crc32c(payload));
  bytes += payload;
  return bytes;
}

absl::Status WriteModelFile(const v1::LearnedModel& model, const std::string& path) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    const std::string bytes = SerializeModelFile(model);
    if (!file || !file.write(bytes.data(), static_cast<std::streamsize>(bytes.size())) || !file.flush()) {
      return absl::UnavailableError(StrCat(temporary, ": cannot write: ", std::strerror(errno)));
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(StrCat(path, ": cannot rename ", temporary, " over it: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace quantclaw::learning
