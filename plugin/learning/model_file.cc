#include "learning/model_file.h"

#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace quantclaw::learning {

absl::StatusOr<std::shared_ptr<const LearnedModel>> CompileModel(const v1::LearnedModel& model,
                                                                 const std::string& name) {
  return LearnedModel::Compile(name, model);
}

absl::Status ValidateModel(const v1::LearnedModel& model, const std::string& name) {
  return CompileModel(model, name).status();
}

double ScoreWithModel(const v1::LearnedModel& model, const float* features) {
  absl::StatusOr<std::shared_ptr<const LearnedModel>> compiled = CompileModel(model, "model");
  return compiled.ok() ? (*compiled)->Score(features) : 1.0;
}

absl::StatusOr<v1::LearnedModel> ReadModelFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string bytes;
  file.seekg(0, std::ios::end);
  const std::streamoff size = file.tellg();
  if (size < 0 || static_cast<uint64_t>(size) > kLearnedModelMaxFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": larger than a model file may be (", kLearnedModelMaxFileBytes, " bytes)"));
  }
  file.seekg(0);
  bytes.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  // The runtime's checks first: the container (offsets), then the model (fields).
  if (absl::Status status = LearnedModel::FromFileBytes(path, bytes).status(); !status.ok()) return status;
  v1::LearnedModel model;
  if (!model.ParseFromArray(bytes.data() + kLearnedModelHeaderBytes,
                            static_cast<int>(bytes.size() - kLearnedModelHeaderBytes))) {
    return absl::DataLossError(absl::StrCat(path, ": offset ", kLearnedModelHeaderBytes, ": not a LearnedModel"));
  }
  return model;
}

std::string SerializeModelFile(const v1::LearnedModel& model) { return SerializeLearnedModelFile(model); }

absl::Status WriteModelFile(const v1::LearnedModel& model, const std::string& path) {
  if (absl::Status status = ValidateModel(model, path); !status.ok()) return status;
  return WriteLearnedModelFile(path, model);
}

}  // namespace quantclaw::learning
