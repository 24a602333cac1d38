// LearnedModel files (plugin/policy/learned_model.h) written by hand, for tests and benchmarks that see
// only the C ABI and so cannot link protobuf (the library's copy of the descriptors would be registered
// twice). A unit test holds these bytes equal to SerializeLearnedModelFile's, so the two cannot drift.
#ifndef QUANTCLAW_TESTS_LEARNED_MODEL_FILE_H_
#define QUANTCLAW_TESTS_LEARNED_MODEL_FILE_H_

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace quantclaw_test {

inline void AppendVarint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

inline void AppendLengthDelimited(std::string* out, uint32_t field, std::string_view payload) {
  AppendVarint(out, (uint64_t{field} << 3) | 2);
  AppendVarint(out, payload.size());
  out->append(payload);
}

inline void AppendVarintField(std::string* out, uint32_t field, uint64_t value) {
  if (value == 0) return;  // proto3 writes no default
  AppendVarint(out, (uint64_t{field} << 3) | 0);
  AppendVarint(out, value);
}

inline void AppendFloatField(std::string* out, uint32_t field, float value) {
  if (value == 0.0f) return;
  AppendVarint(out, (uint64_t{field} << 3) | 5);
  char bytes[4];
  std::memcpy(bytes, &value, 4);  // little-endian hosts only, as the library's tests are run
  out->append(bytes, 4);
}

inline void AppendPackedFloats(std::string* out, uint32_t field, const std::vector<float>& values) {
  if (values.empty()) return;
  std::string packed(values.size() * 4, '\0');
  std::memcpy(packed.data(), values.data(), packed.size());
  AppendLengthDelimited(out, field, packed);
}

struct DenseLayer {
  uint32_t inputs = 0;
  uint32_t outputs = 0;
  std::vector<float> weights;  // outputs rows of inputs floats
  std::vector<float> biases;
};

struct ModelSpec {
  uint32_t format_version = 1;
  std::string feature_set = "quantclaw.step.v1";
  uint32_t feature_count = 163;
  std::vector<float> mean, scale;
  bool mlp = false;
  std::vector<float> logistic_weights;
  float logistic_bias = 0;
  std::vector<DenseLayer> layers;
  std::string provenance;
};

// quantclaw.v1.LearnedModel, protobuf binary, fields in number order as protobuf writes them.
inline std::string ModelPayload(const ModelSpec& spec) {
  std::string out;
  AppendVarintField(&out, 1, spec.format_version);
  if (!spec.feature_set.empty()) AppendLengthDelimited(&out, 2, spec.feature_set);
  AppendVarintField(&out, 3, spec.feature_count);
  AppendPackedFloats(&out, 4, spec.mean);
  AppendPackedFloats(&out, 5, spec.scale);
  if (!spec.mlp) {
    std::string logistic;
    AppendPackedFloats(&logistic, 1, spec.logistic_weights);
    AppendFloatField(&logistic, 2, spec.logistic_bias);
    AppendLengthDelimited(&out, 6, logistic);
  } else {
    std::string mlp;
    for (const DenseLayer& layer : spec.layers) {
      std::string encoded;
      AppendVarintField(&encoded, 1, layer.inputs);
      AppendVarintField(&encoded, 2, layer.outputs);
      AppendPackedFloats(&encoded, 3, layer.weights);
      AppendPackedFloats(&encoded, 4, layer.biases);
      AppendLengthDelimited(&mlp, 1, encoded);
    }
    AppendLengthDelimited(&out, 7, mlp);
  }
  if (!spec.provenance.empty()) AppendLengthDelimited(&out, 10, spec.provenance);
  return out;
}

inline uint32_t Crc32c(std::string_view bytes) {
  uint32_t crc = ~0u;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// The file: "QCMODEL1", u32 payload length, u32 CRC-32C of the payload, the payload.
inline std::string ModelFile(const ModelSpec& spec) {
  const std::string payload = ModelPayload(spec);
  std::string out = "QCMODEL1";
  for (uint32_t value : {static_cast<uint32_t>(payload.size()), Crc32c(payload)}) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
  return out + payload;
}

inline bool WriteModelFile(const std::string& path, const ModelSpec& spec) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  const std::string bytes = ModelFile(spec);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

// A deterministic MLP of the given widths (input first, last 1) with small pseudo-random weights.
inline ModelSpec RandomMlp(const std::vector<uint32_t>& widths, uint32_t seed = 1) {
  ModelSpec spec;
  spec.mlp = true;
  spec.feature_count = widths.front();
  uint32_t state = seed;
  auto next = [&state] {
    state = state * 1664525u + 1013904223u;
    return (static_cast<float>(state >> 8) / 16777216.0f - 0.5f) * 0.2f;
  };
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    DenseLayer layer;
    layer.inputs = widths[l];
    layer.outputs = widths[l + 1];
    for (uint32_t i = 0; i < layer.inputs * layer.outputs; ++i) layer.weights.push_back(next());
    for (uint32_t o = 0; o < layer.outputs; ++o) layer.biases.push_back(next());
    spec.layers.push_back(std::move(layer));
  }
  return spec;
}

}  // namespace quantclaw_test

#endif  // QUANTCLAW_TESTS_LEARNED_MODEL_FILE_H_
