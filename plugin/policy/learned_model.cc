#include "policy/learned_model.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "features/feature_vector.h"
#include "quantclaw/v1/learned_model.pb.h"
#include "util/crc32c.h"
#include "util/strings.h"
#include "util/utf8.h"

namespace quantclaw {
namespace {

namespace pb = google::protobuf;
using WireFormat = pb::internal::WireFormatLite;

uint32_t GetU32(std::string_view bytes, size_t at) {
  return static_cast<uint32_t>(static_cast<unsigned char>(bytes[at])) |
         static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 1])) << 8 |
         static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 2])) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 3])) << 24;
}

void PutU32(uint32_t value, std::string* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

// protobuf says only that a message does not parse (and logs a string that is not UTF-8 to stderr, the
// host's); this walk of the wire format, guided by the descriptors, runs first and says where: the offset
// of the first field whose tag, length or value is malformed or cut off, or of a string that is not
// UTF-8. Empty when it finds nothing.
std::string FindMalformed(const pb::Descriptor* type, std::string_view bytes, size_t base) {
  pb::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
  while (static_cast<size_t>(input.CurrentPosition()) < bytes.size()) {
    const size_t at = base + static_cast<size_t>(input.CurrentPosition());
    const uint32_t tag = input.ReadTagNoLastTag();
    if (tag == 0) return StrCat("offset ", at, ": malformed field tag in ", type->full_name());
    const int number = static_cast<int>(WireFormat::GetTagFieldNumber(tag));
    const pb::FieldDescriptor* field = type->FindFieldByNumber(number);
    const std::string name = field != nullptr ? StrCat(type->name(), ".", field->name()) : StrCat("field ", number);
    const bool message = field != nullptr && field->type() == pb::FieldDescriptor::TYPE_MESSAGE;
    const bool text = field != nullptr && field->type() == pb::FieldDescriptor::TYPE_STRING;
    if ((message || text) && WireFormat::GetTagWireType(tag) == WireFormat::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      if (!input.ReadVarint32(&length)) return StrCat("offset ", at, ": ", name, ": malformed length");
      const size_t begin = static_cast<size_t>(input.CurrentPosition());
      if (length > bytes.size() - begin) {
        return StrCat("offset ", at, ": ", name, ": ", length, " bytes long, only ", bytes.size() - begin, " left");
      }
      const std::string_view value = bytes.substr(begin, length);
      if (text && !IsValidUtf8(value)) return StrCat("offset ", at, ": ", name, " is not valid UTF-8");
      if (message) {
        std::string inner = FindMalformed(field->message_type(), value, base + begin);
        if (!inner.empty()) return inner;
      }
      input.Skip(static_cast<int>(length));
      continue;
    }
    if (!WireFormat::SkipField(&input, tag)) {
      return StrCat("offset ", at, ": ", name, " (wire type ", static_cast<int>(WireFormat::GetTagWireType(tag)),
                    ") is malformed or cut off");
    }
  }
  return std::string();
}

template <typename Repeated>
absl::Status CheckFinite(std::string_view name, std::string_view field, const Repeated& values) {
  for (int i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(StrCat(name, ": ", field, "[", i, "] is ", values[i], ", not a finite number"));
    }
  }
  return absl::OkStatus();
}

absl::Status SizeError(std::string_view name, std::string_view field, int size, uint64_t expected,
                       std::string_view why) {
  return absl::InvalidArgumentError(StrCat(name, ": ", field, " has ", size, " values, expected ", expected, " (",
                                           why, ")"));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const LearnedModel>> LearnedModel::Load(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return absl::NotFoundError(StrCat(path, ": ", ec.message()));
  if (size > kLearnedModelMaxFileBytes) {
    return absl::InvalidArgumentError(
        StrCat(path, ": ", size, " bytes, over the ", kLearnedModelMaxFileBytes, " a model file may hold"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat(path, ": cannot open"));
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<uintmax_t>(in.gcount()) != size) return absl::DataLossError(StrCat(path, ": short read"));
  return FromFileBytes(path, bytes);
}

absl::StatusOr<std::shared_ptr<const LearnedModel>> LearnedModel::FromFileBytes(std::string_view name,
                                                                                std::string_view bytes) {
  const std::string_view magic = kLearnedModelFileHeader.substr(0, kLearnedModelFileHeader.size() - 1);
  if (bytes.size() > kLearnedModelMaxFileBytes) {
    return absl::InvalidArgumentError(
        StrCat(name, ": ", bytes.size(), " bytes, over the ", kLearnedModelMaxFileBytes, " a model file may hold"));
  }
  if (bytes.empty()) return absl::InvalidArgumentError(StrCat(name, ": offset 0: empty file, not a model"));
  // A file cut inside the magic still starts like one: it reads as truncated, below.
  const size_t compared = std::min(bytes.size(), magic.size());
  if (bytes.substr(0, compared) != magic.substr(0, compared)) {
    return absl::InvalidArgumentError(
        StrCat(name, ": offset 0: not a quantclaw model file (it starts with ", Quote(kLearnedModelFileHeader), ")"));
  }
  if (bytes.size() > magic.size() && bytes[magic.size()] != kLearnedModelFileHeader.back()) {
    const unsigned char version = static_cast<unsigned char>(bytes[magic.size()]);
    char shown[8];
    std::snprintf(shown, sizeof(shown), version >= 0x20 && version < 0x7F ? "'%c'" : "0x%02X", version);
    return absl::InvalidArgumentError(StrCat(name, ": offset ", magic.size(), ": model file version ", shown,
                                             ", this build reads '", kLearnedModelFileHeader.substr(magic.size()),
                                             "'"));
  }
  if (bytes.size() < kLearnedModelHeaderBytes) {
    return absl::InvalidArgumentError(StrCat(name, ": offset ", bytes.size(), ": truncated in the ",
                                             kLearnedModelHeaderBytes, "-byte header"));
  }
  const uint32_t length = GetU32(bytes, 8);
  const uint32_t stored_crc = GetU32(bytes, 12);
  const std::string_view payload = bytes.substr(kLearnedModelHeaderBytes);
  if (length > payload.size()) {
    return absl::InvalidArgumentError(StrCat(name, ": offset ", bytes.size(), ": truncated: the header promises ",
                                             length, " payload bytes, ", payload.size(), " are present"));
  }
  if (length < payload.size()) {
    return absl::InvalidArgumentError(StrCat(name, ": offset ", kLearnedModelHeaderBytes + length, ": ",
                                             payload.size() - length, " bytes past the payload the header declares"));
  }
  if (const uint32_t crc = Crc32c(payload); crc != stored_crc) {
    return absl::InvalidArgumentError(
        StrCat(name, ": offset ", kLearnedModelHeaderBytes, ": payload checksum ", absl::Hex(crc, absl::kZeroPad8),
               " does not match the header's ", absl::Hex(stored_crc, absl::kZeroPad8), ": the file is damaged"));
  }
  if (std::string where = FindMalformed(v1::LearnedModel::descriptor(), payload, kLearnedModelHeaderBytes);
      !where.empty()) {
    return absl::InvalidArgumentError(StrCat(name, ": ", where));
  }
  v1::LearnedModel message;
  if (!message.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::InvalidArgumentError(StrCat(name, ": offset ", kLearnedModelHeaderBytes,
                                             ": the payload does not parse as quantclaw.v1.LearnedModel"));
  }
  return Compile(name, message);
}

absl::StatusOr<std::shared_ptr<const LearnedModel>> LearnedModel::Compile(std::string_view name,
                                                                          const v1::LearnedModel& message) {
  if (message.format_version() != kLearnedModelFormatVersion) {
    return absl::InvalidArgumentError(StrCat(name, ": format_version ", message.format_version(),
                                             ", this build reads ", kLearnedModelFormatVersion));
  }
  const int set_size = FeatureSetSize(message.feature_set());
  if (set_size == 0) {
    return absl::InvalidArgumentError(StrCat(name, ": feature_set ", Quote(message.feature_set()),
                                             " is not one this build computes (it computes ",
                                             Quote(kStepFeaturesV1), ")"));
  }
  if (message.feature_count() != static_cast<uint32_t>(set_size)) {
    return absl::InvalidArgumentError(StrCat(name, ": feature_count ", message.feature_count(), " but ",
                                             message.feature_set(), " has ", set_size, " features"));
  }
  const int n = set_size;
  if (n > kLearnedModelMaxWidth) {
    return absl::InvalidArgumentError(
        StrCat(name, ": ", n, " features, over the ", kLearnedModelMaxWidth, " a layer may have"));
  }
  auto model = std::shared_ptr<LearnedModel>(new LearnedModel());
  model->feature_set_ = message.feature_set();
  model->feature_count_ = n;
  model->label_kl_threshold_ = message.label_kl_threshold();
  model->provenance_ = message.provenance();

  // Standardisation: both empty reads as none (mean 0, scale 1).
  if (message.feature_mean_size() != 0 || message.feature_scale_size() != 0) {
    if (message.feature_mean_size() != n) {
      return SizeError(name, "feature_mean", message.feature_mean_size(), n, "one per feature");
    }
    if (message.feature_scale_size() != n) {
      return SizeError(name, "feature_scale", message.feature_scale_size(), n, "one per feature");
    }
  }
  if (auto status = CheckFinite(name, "feature_mean", message.feature_mean()); !status.ok()) return status;
  if (auto status = CheckFinite(name, "feature_scale", message.feature_scale()); !status.ok()) return status;
  model->mean_.assign(n, 0.0f);
  model->inverse_scale_.assign(n, 1.0f);
  for (int i = 0; i < message.feature_mean_size(); ++i) {
    const float scale = message.feature_scale(i);
    const float inverse = 1.0f / scale;
    if (scale == 0 || !std::isfinite(inverse)) {
      return absl::InvalidArgumentError(StrCat(name, ": feature_scale[", i, "] is ", scale,
                                               ": a scale must be non-zero, with a finite inverse"));
    }
    model->mean_[i] = message.feature_mean(i);
    model->inverse_scale_[i] = inverse;
  }

  // Both kinds compile to dense layers; a logistic model is one layer of one output.
  struct Source {
    std::string field;
    uint64_t inputs;
    uint64_t outputs;
    const pb::RepeatedField<float>* weights;
    const pb::RepeatedField<float>* biases;  // null: the logistic bias
  };
  std::vector<Source> sources;
  float logistic_bias = 0;
  switch (message.model_case()) {
    case v1::LearnedModel::kLogistic: {
      const v1::LogisticModel& logistic = message.logistic();
      sources.push_back({"logistic.weights", static_cast<uint64_t>(n), 1, &logistic.weights(), nullptr});
      logistic_bias = logistic.bias();
      if (!std::isfinite(logistic_bias)) {
        return absl::InvalidArgumentError(StrCat(name, ": logistic.bias is ", logistic_bias, ", not a finite number"));
      }
      break;
    }
    case v1::LearnedModel::kMlp: {
      const v1::MlpModel& mlp = message.mlp();
      model->is_mlp_ = true;
      if (mlp.layers_size() == 0 || mlp.layers_size() > kLearnedModelMaxLayers) {
        return absl::InvalidArgumentError(StrCat(name, ": mlp has ", mlp.layers_size(), " layers, expected 1 to ",
                                                 kLearnedModelMaxLayers));
      }
      uint64_t previous = static_cast<uint64_t>(n);
      for (int l = 0; l < mlp.layers_size(); ++l) {
        const v1::DenseLayer& layer = mlp.layers(l);
        const std::string field = StrCat("mlp.layers[", l, "]");
        if (layer.inputs() != previous) {
          return absl::InvalidArgumentError(StrCat(name, ": ", field, ".inputs is ", layer.inputs(), ", expected ",
                                                   previous, l == 0 ? " (the feature count)" : " (the outputs of the layer before)"));
        }
        const bool last = l + 1 == mlp.layers_size();
        if (last ? layer.outputs() != 1 : (layer.outputs() == 0 || layer.outputs() > kLearnedModelMaxWidth)) {
          return absl::InvalidArgumentError(
              StrCat(name, ": ", field, ".outputs is ", layer.outputs(), ", expected ",
                     last ? std::string("1 (the last layer's output is the score)")
                          : StrCat("1 to ", kLearnedModelMaxWidth)));
        }
        sources.push_back({field, layer.inputs(), layer.outputs(), &layer.weights(), &layer.biases()});
        previous = layer.outputs();
      }
      break;
    }
    case v1::LearnedModel::MODEL_NOT_SET:
      return absl::InvalidArgumentError(StrCat(name, ": no model: neither logistic nor mlp is set"));
  }

  uint64_t total = 0;
  for (const Source& source : sources) total += source.inputs * source.outputs + source.outputs;
  if (total > kLearnedModelMaxParameters) {
    return absl::InvalidArgumentError(StrCat(name, ": ", total, " parameters, over the ", kLearnedModelMaxParameters,
                                             " a model may have"));
  }
  model->parameters_.reserve(total);
  model->widths_.push_back(n);
  for (const Source& source : sources) {
    const std::string weights_field = source.biases == nullptr ? source.field : StrCat(source.field, ".weights");
    if (static_cast<uint64_t>(source.weights->size()) != source.inputs * source.outputs) {
      return SizeError(name, weights_field, source.weights->size(), source.inputs * source.outputs,
                       "outputs rows of inputs floats");
    }
    if (auto status = CheckFinite(name, weights_field, *source.weights); !status.ok()) return status;
    if (source.biases != nullptr) {
      if (static_cast<uint64_t>(source.biases->size()) != source.outputs) {
        return SizeError(name, StrCat(source.field, ".biases"), source.biases->size(), source.outputs,
                         "one per output");
      }
      if (auto status = CheckFinite(name, StrCat(source.field, ".biases"), *source.biases); !status.ok()) return status;
    }
    Layer layer;
    layer.inputs = static_cast<int>(source.inputs);
    layer.outputs = static_cast<int>(source.outputs);
    // Stored transposed (inputs rows of outputs floats): Score adds one input's column into every output
    // at once, a loop over independent sums the compiler vectorises without reordering any sum.
    layer.weights = model->parameters_.size();
    model->parameters_.resize(model->parameters_.size() + source.inputs * source.outputs);
    float* transposed = model->parameters_.data() + layer.weights;
    for (int o = 0; o < layer.outputs; ++o) {
      for (int i = 0; i < layer.inputs; ++i) {
        transposed[static_cast<size_t>(i) * layer.outputs + o] = (*source.weights)[o * layer.inputs + i];
      }
    }
    layer.biases = model->parameters_.size();
    if (source.biases != nullptr) {
      model->parameters_.insert(model->parameters_.end(), source.biases->begin(), source.biases->end());
    } else {
      model->parameters_.push_back(logistic_bias);
    }
    model->layers_.push_back(layer);
    model->widths_.push_back(layer.outputs);
  }

  if (!std::isfinite(message.label_kl_threshold()) || message.label_kl_threshold() < 0) {
    return absl::InvalidArgumentError(
        StrCat(name, ": label_kl_threshold is ", message.label_kl_threshold(), ", expected a finite KL >= 0"));
  }
  for (int c = 0; c < message.calibrations_size(); ++c) {
    const v1::Calibration& calibration = message.calibrations(c);
    if (!(calibration.budget() >= 0 && calibration.budget() <= 1) ||
        !(calibration.threshold() >= 0 && calibration.threshold() <= 1)) {
      return absl::InvalidArgumentError(StrCat(name, ": calibrations[", c, "]: budget ", calibration.budget(),
                                               " and threshold ", calibration.threshold(), " must lie in [0, 1]"));
    }
    model->calibrations_.push_back({calibration.budget(), calibration.task_type(), calibration.threshold()});
  }
  return std::shared_ptr<const LearnedModel>(std::move(model));
}

float LearnedModel::Score(const float* features) const {
  // Two buffers of the widest layer, on the stack: Compile refused anything wider.
  float a[kLearnedModelMaxWidth];
  float b[kLearnedModelMaxWidth];
  const float* mean = mean_.data();
  const float* inverse_scale = inverse_scale_.data();
  for (int i = 0; i < feature_count_; ++i) a[i] = (features[i] - mean[i]) * inverse_scale[i];
  float* in = a;
  float* out = b;
  const float* parameters = parameters_.data();
  const size_t layer_count = layers_.size();
  for (size_t l = 0; l < layer_count; ++l) {
    const Layer& layer = layers_[l];
    const int outputs = layer.outputs;
    const float* bias = parameters + layer.biases;
    for (int o = 0; o < outputs; ++o) out[o] = bias[o];
    const float* column = parameters + layer.weights;
    for (int i = 0; i < layer.inputs; ++i, column += outputs) {
      const float x = in[i];
      // ReLU zeros and the features' many zeros (one-hot slots, empty hash buckets) add nothing.
      if (x == 0.0f) continue;
      // Eight independent sums written out, so that -O2 (which vectorises straight-line code but not
      // this loop) uses vector registers too; every sum still adds its terms in input order.
      int o = 0;
      for (; o + 8 <= outputs; o += 8) {
        out[o] += x * column[o];
        out[o + 1] += x * column[o + 1];
        out[o + 2] += x * column[o + 2];
        out[o + 3] += x * column[o + 3];
        out[o + 4] += x * column[o + 4];
        out[o + 5] += x * column[o + 5];
        out[o + 6] += x * column[o + 6];
        out[o + 7] += x * column[o + 7];
      }
      for (; o < outputs; ++o) out[o] += x * column[o];
    }
    if (l + 1 < layer_count) {
      for (int o = 0; o < outputs; ++o) out[o] = out[o] > 0.0f ? out[o] : 0.0f;
    }
    std::swap(in, out);
  }
  // Finite weights can still overflow on a large input (+inf and -inf meeting in one sum): a score
  // that means nothing sends the step high, where it loses nothing, rather than low.
  if (std::isnan(in[0])) return 1.0f;
  return static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(in[0]))));
}

const LearnedModel::Calibration* LearnedModel::FindCalibration(double budget, std::string_view task_type) const {
  for (const Calibration& calibration : calibrations_) {
    if (std::abs(calibration.budget - budget) < 1e-9 && calibration.task_type == task_type) return &calibration;
  }
  return nullptr;
}

std::string SerializeLearnedModelFile(const v1::LearnedModel& message) {
  std::string payload;
  message.SerializeToString(&payload);
  std::string out(kLearnedModelFileHeader);
  PutU32(static_cast<uint32_t>(payload.size()), &out);
  PutU32(Crc32c(payload), &out);
  out += payload;
  return out;
}

absl::Status WriteLearnedModelFile(const std::string& path, const v1::LearnedModel& message) {
  const std::string bytes = SerializeLearnedModelFile(message);
  const std::string temporary = StrCat(path, ".tmp.", ::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return absl::PermissionDeniedError(StrCat(temporary, ": cannot create"));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
      return absl::DataLossError(StrCat(temporary, ": write failed"));
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    return absl::PermissionDeniedError(StrCat(path, ": cannot rename ", temporary, " into place: ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace quantclaw
