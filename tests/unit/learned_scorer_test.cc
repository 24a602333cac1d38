// The learned scorer's model files (policy/learned_model.h) and its live feature vector.
#include "policy/learned_model.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "features/feature_vector.h"
#include "learned_model_file.h"
#include "quantclaw/v1/learned_model.pb.h"
#include "quantclaw/v1/step.pb.h"
#include "quantclaw/v1/trace.pb.h"
#include "router/router.h"
#include "router/router_config.h"

namespace quantclaw {
namespace {

using quantclaw_test::ModelSpec;

constexpr int kDigitShare = kStepFeaturesV1Size - kCharClassCount + static_cast<int>(CharClass::kDigit);

v1::LearnedModel Message(const ModelSpec& spec) {
  v1::LearnedModel message;
  EXPECT_TRUE(message.ParseFromString(quantclaw_test::ModelPayload(spec)));
  return message;
}

// A logistic model over quantclaw.step.v1 with every weight zero but the ones given.
ModelSpec Logistic(std::initializer_list<std::pair<int, float>> weights, float bias) {
  ModelSpec spec;
  spec.logistic_weights.assign(kStepFeaturesV1Size, 0.0f);
  for (const auto& [index, weight] : weights) spec.logistic_weights[index] = weight;
  spec.logistic_bias = bias;
  spec.provenance = "hand-set for a test";
  return spec;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(testing::TempDir()) / ("learned_scorer_test_" + name)).string();
}

std::string LoadError(std::string_view bytes) {
  auto model = LearnedModel::FromFileBytes("m.qcmodel", bytes);
  return model.ok() ? std::string("loaded") : std::string(model.status().message());
}

std::string CompileError(const ModelSpec& spec) {
  return LoadError(quantclaw_test::ModelFile(spec));
}

// ---------------------------------------------------------------------------------------------------
// The file

TEST(LearnedModelFileTest, HandWrittenBytesEqualTheSerializers) {
  ModelSpec logistic = Logistic({{0, 0.5f}, {kDigitShare, -2.0f}}, 0.25f);
  logistic.mean.assign(kStepFeaturesV1Size, 0.125f);
  logistic.scale.assign(kStepFeaturesV1Size, 2.0f);
  EXPECT_EQ(quantclaw_test::ModelFile(logistic), SerializeLearnedModelFile(Message(logistic)));
  const ModelSpec mlp = quantclaw_test::RandomMlp({163, 8, 4, 1});
  EXPECT_EQ(quantclaw_test::ModelFile(mlp), SerializeLearnedModelFile(Message(mlp)));
}

TEST(LearnedModelFileTest, WrittenFileLoadsWithWhatItSays) {
  const std::string path = TempPath("written.qcmodel");
  v1::LearnedModel message = Message(quantclaw_test::RandomMlp({163, 16, 1}));
  message.set_label_kl_threshold(0.05);
  v1::Calibration* calibration = message.add_calibrations();
  calibration->set_budget(0.3);
  calibration->set_threshold(0.62);
  ASSERT_TRUE(WriteLearnedModelFile(path, message).ok());
  auto model = LearnedModel::Load(path);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->is_mlp());
  EXPECT_EQ((*model)->feature_set(), kStepFeaturesV1);
  EXPECT_EQ((*model)->widths(), (std::vector<int>{163, 16, 1}));
  EXPECT_EQ((*model)->parameter_count(), 163u * 16 + 16 + 16 + 1);
  EXPECT_DOUBLE_EQ((*model)->label_kl_threshold(), 0.05);
  ASSERT_NE((*model)->FindCalibration(0.3, ""), nullptr);
  EXPECT_DOUBLE_EQ((*model)->FindCalibration(0.3, "")->threshold, 0.62);
  EXPECT_EQ((*model)->FindCalibration(0.4, ""), nullptr);
  std::filesystem::remove(path);
}

TEST(LearnedModelFileTest, MissingFileNamesIt) {
  auto model = LearnedModel::Load("/nonexistent/model.qcmodel");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(std::string(model.status().message()).rfind("/nonexistent/model.qcmodel: ", 0), 0u) << model.status();
}

TEST(LearnedModelFileTest, TruncatedAtEveryOffsetIsAnErrorWithTheFileAndOffset) {
  ModelSpec spec = Logistic({{1, 1.0f}}, 0.5f);
  spec.feature_set = "quantclaw.step.v1";
  const std::string bytes = quantclaw_test::ModelFile(spec);
  ASSERT_EQ(LoadError(bytes), "loaded");
  for (size_t size = 0; size < bytes.size(); ++size) {
    const std::string error = LoadError(std::string_view(bytes).substr(0, size));
    EXPECT_EQ(error.rfind("m.qcmodel: offset ", 0), 0u) << "cut at " << size << ": " << error;
  }
  EXPECT_EQ(LoadError(std::string_view(bytes).substr(0, 100)),
            "m.qcmodel: offset 100: truncated: the header promises " + std::to_string(bytes.size() - 16) +
                " payload bytes, 84 are present");
  EXPECT_EQ(LoadError(bytes.substr(0, 5)), "m.qcmodel: offset 5: truncated in the 16-byte header");
  EXPECT_EQ(LoadError(bytes + "x"), "m.qcmodel: offset " + std::to_string(bytes.size()) +
                                        ": 1 bytes past the payload the header declares");
}

TEST(LearnedModelFileTest, EveryFlippedByteIsAnError) {
  const std::string bytes = quantclaw_test::ModelFile(Logistic({{1, 1.0f}}, 0.5f));
  for (size_t at = 0; at < bytes.size(); ++at) {
    for (unsigned char flip : {0x01, 0x80}) {
      std::string damaged = bytes;
      damaged[at] = static_cast<char>(damaged[at] ^ flip);
      const std::string error = LoadError(damaged);
      EXPECT_EQ(error.rfind("m.qcmodel: ", 0), 0u) << "byte " << at << " ^ " << int(flip) << ": " << error;
    }
  }
  std::string damaged = bytes;
  damaged[40] ^= 0x10;
  EXPECT_NE(LoadError(damaged).find("m.qcmodel: offset 16: payload checksum"), std::string::npos) << LoadError(damaged);
}

TEST(LearnedModelFileTest, ForeignFilesAndVersions) {
  EXPECT_EQ(LoadError(""), "m.qcmodel: offset 0: empty file, not a model");
  EXPECT_EQ(LoadError("QCTRACE1 and then a trace"),
            "m.qcmodel: offset 0: not a quantclaw model file (it starts with \"QCMODEL1\")");
  std::string next_container = quantclaw_test::ModelFile(Logistic({}, 0));
  next_container[7] = '2';
  EXPECT_EQ(LoadError(next_container), "m.qcmodel: offset 7: model file version '2', this build reads '1'");
  ModelSpec version_2 = Logistic({}, 0);
  version_2.format_version = 2;
  EXPECT_EQ(CompileError(version_2), "m.qcmodel: format_version 2, this build reads 1");
  ModelSpec unknown_set = Logistic({}, 0);
  unknown_set.feature_set = "quantclaw.step.v9";
  EXPECT_EQ(CompileError(unknown_set),
            "m.qcmodel: feature_set \"quantclaw.step.v9\" is not one this build computes (it computes "
            "\"quantclaw.step.v1\")");
}

// A payload whose checksum holds but whose protobuf is malformed (a writer's bug, not damage): the
// offset of the field that is wrong.
TEST(LearnedModelFileTest, MalformedPayloadNamesTheOffsetOfTheField) {
  std::string payload;
  quantclaw_test::AppendVarintField(&payload, 1, 1);  // bytes 16, 17
  std::string logistic;
  quantclaw_test::AppendPackedFloats(&logistic, 1, {1.0f, 2.0f});
  logistic.resize(logistic.size() - 3);  // the packed field claims 8 bytes, 5 follow
  quantclaw_test::AppendLengthDelimited(&payload, 6, logistic);  // at byte 18; the inner field at 20
  std::string file = "QCMODEL1";
  for (uint32_t value : {static_cast<uint32_t>(payload.size()), quantclaw_test::Crc32c(payload)}) {
    for (int i = 0; i < 4; ++i) file.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
  file += payload;
  EXPECT_EQ(LoadError(file), "m.qcmodel: offset 20: LogisticModel.weights (wire type 2) is malformed or cut off");

  ModelSpec latin1 = Logistic({}, 0);
  latin1.feature_set = "quantclaw.step.v1\xE9";  // at byte 18: the field's tag
  EXPECT_EQ(CompileError(latin1), "m.qcmodel: offset 18: LearnedModel.feature_set is not valid UTF-8");
}

TEST(LearnedModelFileTest, SizesThatDoNotFitAreErrorsNamingTheField) {
  ModelSpec count = Logistic({}, 0);
  count.feature_count = 100;
  EXPECT_EQ(CompileError(count), "m.qcmodel: feature_count 100 but quantclaw.step.v1 has 163 features");
  ModelSpec weights = Logistic({}, 0);
  weights.logistic_weights.pop_back();
  EXPECT_EQ(CompileError(weights),
            "m.qcmodel: logistic.weights has 162 values, expected 163 (outputs rows of inputs floats)");
  ModelSpec mean = Logistic({}, 0);
  mean.mean.assign(10, 0.0f);
  mean.scale.assign(kStepFeaturesV1Size, 1.0f);
  EXPECT_EQ(CompileError(mean), "m.qcmodel: feature_mean has 10 values, expected 163 (one per feature)");
  ModelSpec scale = Logistic({}, 0);
  scale.mean.assign(kStepFeaturesV1Size, 0.0f);
  EXPECT_EQ(CompileError(scale), "m.qcmodel: feature_scale has 0 values, expected 163 (one per feature)");

  ModelSpec chain = quantclaw_test::RandomMlp({163, 8, 4, 1});
  chain.layers[1].inputs = 7;
  EXPECT_EQ(CompileError(chain),
            "m.qcmodel: mlp.layers[1].inputs is 7, expected 8 (the outputs of the layer before)");
  ModelSpec first = quantclaw_test::RandomMlp({162, 8, 1});
  first.feature_count = 163;
  EXPECT_EQ(CompileError(first), "m.qcmodel: mlp.layers[0].inputs is 162, expected 163 (the feature count)");
  ModelSpec two_outputs = quantclaw_test::RandomMlp({163, 8, 2});
  EXPECT_EQ(CompileError(two_outputs),
            "m.qcmodel: mlp.layers[1].outputs is 2, expected 1 (the last layer's output is the score)");
  ModelSpec biases = quantclaw_test::RandomMlp({163, 8, 1});
  biases.layers[0].biases.pop_back();
  EXPECT_EQ(CompileError(biases), "m.qcmodel: mlp.layers[0].biases has 7 values, expected 8 (one per output)");
  ModelSpec layer_weights = quantclaw_test::RandomMlp({163, 8, 1});
  layer_weights.layers[1].weights.push_back(1.0f);
  EXPECT_EQ(CompileError(layer_weights),
            "m.qcmodel: mlp.layers[1].weights has 9 values, expected 8 (outputs rows of inputs floats)");
  ModelSpec none;
  none.mlp = true;  // an empty MlpModel
  EXPECT_EQ(CompileError(none), "m.qcmodel: mlp has 0 layers, expected 1 to 8");
  v1::LearnedModel unset = Message(Logistic({}, 0));
  unset.clear_logistic();
  EXPECT_EQ(LoadError(SerializeLearnedModelFile(unset)), "m.qcmodel: no model: neither logistic nor mlp is set");
}

TEST(LearnedModelFileTest, HugeLayersAreRefused) {
  ModelSpec wide = quantclaw_test::RandomMlp({163, 257, 1});
  EXPECT_EQ(CompileError(wide), "m.qcmodel: mlp.layers[0].outputs is 257, expected 1 to 256");
  // A layer that claims a width far past what its weights hold is refused before anything is sized by it.
  ModelSpec claims = quantclaw_test::RandomMlp({163, 8, 1});
  claims.layers[0].outputs = 4000000000u;
  EXPECT_EQ(CompileError(claims), "m.qcmodel: mlp.layers[0].outputs is 4000000000, expected 1 to 256");
  ModelSpec deep = quantclaw_test::RandomMlp({163, 4, 4, 4, 4, 4, 4, 4, 4, 1});
  EXPECT_EQ(CompileError(deep), "m.qcmodel: mlp has 9 layers, expected 1 to 8");
  EXPECT_NE(LoadError(std::string(kLearnedModelMaxFileBytes + 1, 'Q')).find("over the 16777216 a model file may hold"),
            std::string::npos);
}

TEST(LearnedModelFileTest, NonFiniteValuesAreRefused) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(CompileError(Logistic({{3, nan}}, 0)), "m.qcmodel: logistic.weights[3] is nan, not a finite number");
  EXPECT_EQ(CompileError(Logistic({}, inf)), "m.qcmodel: logistic.bias is inf, not a finite number");
  ModelSpec mlp = quantclaw_test::RandomMlp({163, 8, 1});
  mlp.layers[1].biases[0] = -inf;
  EXPECT_EQ(CompileError(mlp), "m.qcmodel: mlp.layers[1].biases[0] is -inf, not a finite number");
  ModelSpec mean = Logistic({}, 0);
  mean.mean.assign(kStepFeaturesV1Size, 0.0f);
  mean.scale.assign(kStepFeaturesV1Size, 1.0f);
  mean.mean[5] = nan;
  EXPECT_EQ(CompileError(mean), "m.qcmodel: feature_mean[5] is nan, not a finite number");
  ModelSpec zero = Logistic({}, 0);
  zero.mean.assign(kStepFeaturesV1Size, 0.0f);
  zero.scale.assign(kStepFeaturesV1Size, 1.0f);
  zero.scale[7] = 0.0f;
  EXPECT_EQ(CompileError(zero), "m.qcmodel: feature_scale[7] is 0: a scale must be non-zero, with a finite inverse");
  v1::LearnedModel threshold = Message(Logistic({}, 0));
  threshold.set_label_kl_threshold(std::nan(""));
  EXPECT_EQ(LoadError(SerializeLearnedModelFile(threshold)),
            "m.qcmodel: label_kl_threshold is nan, expected a finite KL >= 0");
  v1::LearnedModel calibration = Message(Logistic({}, 0));
  calibration.add_calibrations()->set_budget(1.5);
  EXPECT_EQ(LoadError(SerializeLearnedModelFile(calibration)),
            "m.qcmodel: calibrations[0]: budget 1.5 and threshold 0 must lie in [0, 1]");
}

// ---------------------------------------------------------------------------------------------------
// Scores

float Sigmoid(double z) { return static_cast<float>(1.0 / (1.0 + std::exp(-z))); }

std::shared_ptr<const LearnedModel> Compiled(const ModelSpec& spec) {
  auto model = LearnedModel::Compile("test", Message(spec));
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *model : nullptr;
}

TEST(LearnedModelScoreTest, LogisticWithHandSetWeightsScoresExactly) {
  auto model = Compiled(Logistic({{0, 0.5f}, {10, 0.25f}, {kDigitShare, -4.0f}}, 0.75f));
  ASSERT_NE(model, nullptr);
  float x[kStepFeaturesV1Size] = {};
  EXPECT_EQ(model->Score(x), Sigmoid(0.75));
  x[0] = 2.0f;  // 0.75 + 1
  x[10] = 4.0f;  // + 1
  EXPECT_EQ(model->Score(x), Sigmoid(2.75));
  x[kDigitShare] = 1.0f;  // - 4
  EXPECT_EQ(model->Score(x), Sigmoid(-1.25));
  x[20] = 1000.0f;  // a feature the model gives no weight
  EXPECT_EQ(model->Score(x), Sigmoid(-1.25));
}

TEST(LearnedModelScoreTest, AnOverflowedSumScoresHigh) {
  auto model = Compiled(Logistic({{0, 3e38f}, {1, -3e38f}}, 0.0f));
  ASSERT_NE(model, nullptr);
  float x[kStepFeaturesV1Size] = {};
  x[0] = 10.0f;  // +inf
  EXPECT_EQ(model->Score(x), 1.0f);
  x[0] = 0.0f;
  x[1] = 10.0f;  // -inf
  EXPECT_EQ(model->Score(x), 0.0f);
  x[0] = 10.0f;  // +inf - inf
  EXPECT_EQ(model->Score(x), 1.0f);
}

TEST(LearnedModelScoreTest, StandardisationComesFirst) {
  ModelSpec spec = Logistic({{0, 1.0f}, {1, 1.0f}}, 0.0f);
  spec.mean.assign(kStepFeaturesV1Size, 1.0f);
  spec.scale.assign(kStepFeaturesV1Size, 0.5f);
  auto model = Compiled(spec);
  ASSERT_NE(model, nullptr);
  float x[kStepFeaturesV1Size] = {};
  x[0] = 2.0f;  // (2 - 1) / 0.5 = 2
  x[1] = 0.0f;  // (0 - 1) / 0.5 = -2
  EXPECT_EQ(model->Score(x), 0.5f);
  x[1] = 1.5f;  // 1
  EXPECT_EQ(model->Score(x), Sigmoid(3.0));
}

TEST(LearnedModelScoreTest, MlpAppliesReluBetweenLayersAndSigmoidOnTheOutput) {
  // Two hidden units: h0 = relu(x0 - 1), h1 = relu(2 x1 + 0.5); out = 1.5 h0 - h1 + 0.25.
  ModelSpec spec;
  spec.mlp = true;
  quantclaw_test::DenseLayer hidden{163, 2, std::vector<float>(2 * 163, 0.0f), {-1.0f, 0.5f}};
  hidden.weights[0] = 1.0f;        // row 0, input 0
  hidden.weights[163 + 1] = 2.0f;  // row 1, input 1
  spec.layers = {hidden, quantclaw_test::DenseLayer{2, 1, {1.5f, -1.0f}, {0.25f}}};
  auto model = Compiled(spec);
  ASSERT_NE(model, nullptr);
  float x[kStepFeaturesV1Size] = {};
  EXPECT_EQ(model->Score(x), Sigmoid(0.25 - 0.5));  // h0 = relu(-1) = 0, h1 = 0.5
  x[0] = 3.0f;
  x[1] = -1.0f;  // h0 = 2, h1 = relu(-1.5) = 0
  EXPECT_EQ(model->Score(x), Sigmoid(3.25));
}

// ---------------------------------------------------------------------------------------------------
// The live vector and the trace's

v1::Step StepFromJson(const std::string& json) {
  v1::Step step;
  auto status = google::protobuf::util::JsonStringToMessage(json, &step);
  EXPECT_TRUE(status.ok()) << status.ToString() << json;
  return step;
}

TEST(LearnedFeatureVectorTest, LiveAndTraceVectorsAreEqual) {
  ASSERT_EQ(StepFeatureName(kDigitShare), "chars_digit");
  const std::vector<std::string> steps = {
      R"({"session_id":"s","messages":[{"role":"system","content":"You are an agent."},
          {"role":"user","content":"Sum the table: 12.5, 7, 1e3 and tell me in JSON."}],
          "request":{"tools":[{"type":"function","function":{"name":"calc"}}],
                     "response_format":{"type":"json_object"}}})",
      R"({"session_id":"s","messages":[{"role":"assistant","tool_calls":[{"id":"1","type":"function",
          "function":{"name":"calc","arguments":"{\"expr\":\"12.5+7+1e3\"}"}}]},
          {"role":"tool","tool_call_id":"1","content":"Error: bad token 'e'"}],"hints":{"step_kind":"act"}})",
      R"({"session_id":"s","messages":[{"role":"tool","content":"| a | b |\n|---|---|\n| 1 | 2 |\n« ünïcode »"}]})",
      R"({"session_id":"s","messages":[]})"};
  SessionFeatures features;
  std::string prompt;
  for (size_t s = 0; s < steps.size(); ++s) {
    UpdateFeatures(StepFromJson(steps[s]), &features, &prompt);
    // The steps exercise every part of the vector: numbers, JSON, tool errors, non-ASCII, an empty step.
    if (s == 0) {
      EXPECT_GT(features.char_classes[static_cast<int>(CharClass::kDigit)], 0.0f);
      EXPECT_TRUE(features.json_requested);
    }
    for (std::string_view task_type : {"", "arithmetic", "a-task-type-of-thirty-one-bytes"}) {
      float live[kStepFeaturesV1Size];
      StepFeatureVector(features, task_type, live);
      v1::TraceRecord record;
      FillStepFeatures(features, task_type, record.mutable_features());
      // Through the bytes a trace file holds, as the trainer reads them.
      v1::TraceRecord read;
      ASSERT_TRUE(read.ParseFromString(record.SerializeAsString()));
      float traced[kStepFeaturesV1Size];
      std::string error;
      ASSERT_TRUE(StepFeatureVector(read.features(), traced, &error)) << error;
      for (int i = 0; i < kStepFeaturesV1Size; ++i) {
        EXPECT_EQ(live[i], traced[i]) << "step " << s << " task type " << task_type << " " << StepFeatureName(i);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The scorer in a config

std::string Config(const std::string& scorer) {
  return R"({"tiers":[
      {"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m"},
      {"name":"w4","format":"w4a16","base_url":"http://h/v1","model":"m"}],
      "policy":{"scorer":)" + scorer + "}}";
}

std::string Problems(const std::string& json) {
  ConfigErrors errors;
  auto config = ParseRouterConfig(json, &errors);
  EXPECT_EQ(config == nullptr, !errors.empty());
  std::string out;
  for (const auto& error : errors) out += error.pointer + ": " + error.reason + "\n";
  return out;
}

TEST(LearnedScorerConfigTest, ModelProblemsCarryTheJsonPointerAndTheFilesProblem) {
  EXPECT_EQ(Problems(Config(R"({"kind":"learned"})")), "/policy/scorer/model: required string is missing\n");
  EXPECT_EQ(Problems(Config(R"({"kind":"learned","model":""})")),
            "/policy/scorer/model: must not be empty\n");
  EXPECT_EQ(Problems(Config(R"({"kind":"learned","model":"/nonexistent/m.qcmodel","modle":1})")),
            "/policy/scorer/modle: unknown key \"modle\" (did you mean \"model\"?)\n"
            "/policy/scorer/model: /nonexistent/m.qcmodel: No such file or directory\n");
  const std::string path = TempPath("damaged.qcmodel");
  ModelSpec wrong_set = Logistic({}, 0);
  wrong_set.feature_set = "quantclaw.step.v2";
  ASSERT_TRUE(quantclaw_test::WriteModelFile(path, wrong_set));
  EXPECT_EQ(Problems(Config(R"([{"kind":"rules","rules":[]},{"kind":"learned","model":")" + path + R"("}])")),
            "/policy/scorer/1/model: " + path +
                ": feature_set \"quantclaw.step.v2\" is not one this build computes (it computes "
                "\"quantclaw.step.v1\")\n");
  std::filesystem::remove(path);
}

TEST(LearnedScorerConfigTest, TheScorerSaysWhichModelScoredInTheReason) {
  const std::string path = TempPath("reason.qcmodel");
  ASSERT_TRUE(quantclaw_test::WriteModelFile(path, quantclaw_test::RandomMlp({163, 8, 4, 1})));
  auto router = Router::Create(Config(R"({"kind":"learned","model":")" + path + R"("})"));
  ASSERT_TRUE(router.ok()) << router.status();
  ASSERT_TRUE((*router)->OnStep(StepFromJson(R"({"session_id":"a","messages":[{"role":"user","content":"hi"}]})")).ok());
  Choice choice;
  ASSERT_TRUE((*router)->Choose("a", &choice).ok());
  EXPECT_EQ(std::string(choice.decision.reason).rfind("learned: scorer 0 mlp 163-8-4-1 scored 0.", 0), 0u)
      << choice.decision.reason;
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace quantclaw
