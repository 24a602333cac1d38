// Fuzz target for learned model files (policy/learned_model.h). Each input is read twice: as a whole
// file, and as the payload of a file whose header (length, CRC-32C) is right, so that mutations reach
// the protobuf parse and the model's validation rather than stopping at the checksum. The property: no
// crash; a refusal names the file; a model that loads scores any finite input to a probability in [0, 1].
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "policy/learned_model.h"
#include "util/crc32c.h"

namespace {

void Fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::abort();
}

void Check(std::string_view bytes) {
  const std::string name = "fuzz.qcmodel";
  auto model = quantclaw::LearnedModel::FromFileBytes(name, bytes);
  if (!model.ok()) {
    if (model.status().message().rfind(name + ": ", 0) != 0) Fail("an error that does not name the file: " + model.status().ToString());
    return;
  }
  std::vector<float> features((*model)->feature_count());
  for (float fill : {0.0f, 1.0f, -3.5f, 1e30f}) {
    for (size_t i = 0; i < features.size(); ++i) features[i] = i % 2 ? fill : -fill;
    const float score = (*model)->Score(features.data());
    if (!(score >= 0.0f && score <= 1.0f)) Fail("a score outside [0, 1]: " + std::to_string(score));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 20) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Check(input);
  std::string file(quantclaw::kLearnedModelFileHeader);
  for (uint32_t value : {static_cast<uint32_t>(size), quantclaw::Crc32c(input)}) {
    for (int i = 0; i < 4; ++i) file.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
  file.append(input);
  Check(file);
  return 0;
}
