// The learning library under `quantclaw train/eval/calibrate/report`: the KL label threshold, the
// metrics, training on synthetic traces whose KL depends on one feature, and model files.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "../learning/synthetic_traces.h"
#include "features/feature_vector.h"
#include "learning/dataset.h"
#include "learning/kl_threshold.h"
#include "learning/metrics.h"
#include "learning/model_file.h"
#include "learning/trainer.h"
#include "telemetry/trace_file.h"

namespace quantclaw::learning {
namespace {

std::string ScratchDir(const std::string& name) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("quantclaw-learning-" + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path.string();
}

// Where char_classes' digit share sits in quantclaw.step.v1.
int DigitFeature() {
  for (int i = 0; i < kStepFeaturesV1Size; ++i) {
    if (StepFeatureName(i).find("digit") != std::string::npos) return i;
  }
  return -1;
}

TEST(LearningKlThreshold, FindsTheValleyOfABimodalSample) {
  testing::SyntheticRandom random(7);
  std::vector<double> kl;
  for (int i = 0; i < 4000; ++i) {
    const bool high = random.Uniform() < 0.2;
    kl.push_back(std::pow(10.0, high ? 0.0 + 0.3 * random.Normal() : -3.0 + 0.4 * random.Normal()));
  }
  const KlThreshold threshold = FindKlThreshold(kl, 0.8);
  EXPECT_EQ(threshold.method, "valley");
  EXPECT_NEAR(threshold.low_mode_log10, -3.0, 0.3);
  EXPECT_NEAR(threshold.high_mode_log10, 0.0, 0.3);
  // Between the modes, well clear of both: ~2.5 sigma from each.
  const double at = std::log10(threshold.threshold);
  EXPECT_GT(at, -2.0);
  EXPECT_LT(at, -0.7);
  // Few steps near the threshold: moving it a quarter decade either way flips under 3% of the labels.
  int flipped = 0;
  for (double value : kl) flipped += (value > threshold.threshold * 0.56) != (value > threshold.threshold * 1.78);
  EXPECT_LT(flipped, 0.03 * kl.size());
}

TEST(LearningKlThreshold, FallsBackToTheQuantileWhenUnimodal) {
  testing::SyntheticRandom random(3);
  std::vector<double> kl;
  for (int i = 0; i < 3000; ++i) kl.push_back(std::pow(10.0, -2.0 + 0.5 * random.Normal()));
  const KlThreshold threshold = FindKlThreshold(kl, 0.8);
  EXPECT_EQ(threshold.method, "quantile");
  size_t above = 0;
  for (double value : kl) above += value > threshold.threshold;
  EXPECT_NEAR(static_cast<double>(above) / kl.size(), 0.2, 0.01);
}

TEST(LearningMetrics, AucAndBudget) {
  EXPECT_DOUBLE_EQ(Auc({0.1, 0.2, 0.8, 0.9}, {false, false, true, true}), 1.0);
  EXPECT_DOUBLE_EQ(Auc({0.9, 0.8, 0.2, 0.1}, {false, false, true, true}), 0.0);
  EXPECT_DOUBLE_EQ(Auc({0.5, 0.5, 0.5, 0.5}, {false, true, false, true}), 0.5);
  // Ten distinct scores, K = 0.3: the top three go high.
  std::vector<double> scores = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  EXPECT_DOUBLE_EQ(BudgetThreshold(scores, 0.3), 0.7);
  std::vector<bool> labels = {false, false, false, false, false, false, true, true, false, true};
  const BudgetMetrics metrics = AtBudget(scores, labels, 0.3);
  EXPECT_DOUBLE_EQ(metrics.realized_high_fraction, 0.3);
  EXPECT_DOUBLE_EQ(metrics.recall_at_k, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(metrics.random_recall_at_k, 0.3);
  EXPECT_DOUBLE_EQ(metrics.oracle_recall_at_k, 1.0);
}

// A model that scores exactly by the feature the label depends on, on steps whose label is a function of
// that feature: its recall at any K is the oracle's.
TEST(LearningMetrics, AnOraclePerfectModelRecallsWhatTheOracleDoes) {
  const int digit = DigitFeature();
  ASSERT_GE(digit, 0);
  v1::LearnedModel model;
  model.set_format_version(kLearnedModelFormatVersion);
  model.set_feature_set(std::string(kStepFeaturesV1));
  model.set_feature_count(kStepFeaturesV1Size);
  model.set_label_kl_threshold(0.1);
  for (int i = 0; i < kStepFeaturesV1Size; ++i) {
    model.add_feature_mean(0);
    model.add_feature_scale(1);
    model.mutable_logistic()->add_weights(i == digit ? 40.0f : 0.0f);
  }
  model.mutable_logistic()->set_bias(-12.0f);  // 0.5 at a digit share of 0.3
  ASSERT_TRUE(ValidateModel(model, "oracle").ok());

  testing::SyntheticRandom random(11);
  std::vector<double> scores;
  std::vector<bool> labels;
  std::vector<float> vector(kStepFeaturesV1Size);
  for (int i = 0; i < 1000; ++i) {
    v1::TraceRecord record = testing::SyntheticRecord(random, "s", i);
    std::string error;
    ASSERT_TRUE(StepFeatureVector(record.features(), vector.data(), &error)) << error;
    scores.push_back(ScoreWithModel(model, vector.data()));
    labels.push_back(vector[digit] > 0.3f);  // KL high exactly when the digit share is
  }
  for (double budget : {0.1, 0.3, 0.5, 0.8}) {
    const BudgetMetrics metrics = AtBudget(scores, labels, budget);
    EXPECT_NEAR(metrics.recall_at_k, metrics.oracle_recall_at_k, 1e-9) << "K " << budget;
    EXPECT_GT(metrics.recall_at_k, metrics.random_recall_at_k) << "K " << budget;
  }
  EXPECT_NEAR(Auc(scores, labels), 1.0, 1e-9);
}

TEST(LearningDataset, ARecordWhoseFeaturesDoNotFitIsSkippedAndNamedByItsOffset) {
  const std::string dir = ScratchDir("badfeatures");
  std::string path;
  {
    auto writer = TraceWriter::Open(dir, 1 << 20);
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (int i = 0; i < 3; ++i) {
      v1::TraceRecord record;
      record.set_session_id("s" + std::to_string(i));
      record.set_kl_divergence(0.1);
      if (i == 1) record.mutable_features()->add_text_hash(1.0f);  // one bucket where the layout has many
      ASSERT_TRUE((*writer)->Append(record).ok());
    }
    path = (*writer)->current_path();
  }
  auto reader = TraceReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  v1::TraceRecord record;
  ASSERT_TRUE(reader->Next(&record));
  ASSERT_TRUE(reader->Next(&record));
  const uint64_t second = reader->record_offset();
  EXPECT_GT(second, 0u);

  LoadReport report;
  auto table = LoadSteps({dir}, /*labelled_only=*/true, nullptr, &report);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->rows(), 2u);
  EXPECT_EQ(report.skipped_features, 1u);
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_NE(report.warnings[0].find(path + ": offset " + std::to_string(second) + " (record 1): features.text_hash"),
            std::string::npos)
      << report.warnings[0];
  std::filesystem::remove_all(dir);
}

TEST(LearningSplit, KeepsEachSessionOnOneSide) {
  std::vector<std::string> group;
  for (int s = 0; s < 50; ++s) {
    for (int i = 0; i < 7; ++i) group.push_back("s" + std::to_string(s));
  }
  absl::StatusOr<Split> split = SplitByGroup(group, 0.2, 0.15, 5);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->holdout_groups, 10u);
  EXPECT_EQ(split->holdout.size(), 70u);
  std::set<std::string> held;
  for (size_t row : split->holdout) held.insert(group[row]);
  for (size_t row : split->train) EXPECT_EQ(held.count(group[row]), 0u);
  for (size_t row : split->validation) EXPECT_EQ(held.count(group[row]), 0u);
  // The same seed splits the same way; another seed differently.
  EXPECT_EQ(SplitByGroup(group, 0.2, 0.15, 5)->holdout, split->holdout);
  EXPECT_NE(SplitByGroup(group, 0.2, 0.15, 6)->holdout, split->holdout);
  EXPECT_FALSE(SplitByGroup({"a", "a", "b"}, 0.2, 0.15, 1).ok());
}

// The whole loop in the library: traces written by TraceWriter, read back, labelled, split by session,
// trained, measured on held-out sessions. The label depends on one feature through noise.
TEST(LearningTrain, LearnsTheFeatureTheKlDependsOn) {
  const std::string dir = ScratchDir("train");
  {
    auto writer = TraceWriter::Open(dir, 64 << 20);
    ASSERT_TRUE(writer.ok()) << writer.status();
    testing::SyntheticRandom random(21);
    for (int s = 0; s < 50; ++s) {
      for (int i = 0; i < 40; ++i) ASSERT_TRUE((*writer)->Append(testing::SyntheticRecord(random, "s" + std::to_string(s), i)).ok());
    }
  }
  LoadReport report;
  absl::StatusOr<StepTable> table = LoadSteps({dir}, true, nullptr, &report);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(report.records, 2000u);
  EXPECT_GT(table->rows(), 1700u);
  const KlThreshold threshold = FindKlThreshold(table->kl, 0.8);
  EXPECT_EQ(threshold.method, "valley");
  absl::StatusOr<Split> split = SplitByGroup(table->group, 0.2, 0.15, 1);
  ASSERT_TRUE(split.ok());
  auto labels = [&](const StepTable& t) {
    std::vector<bool> out;
    for (double kl : t.kl) out.push_back(kl > threshold.threshold);
    return out;
  };
  const StepTable train = table->Subset(split->train), validation = table->Subset(split->validation),
                  held_out = table->Subset(split->holdout);
  for (std::vector<int> hidden : {std::vector<int>{}, std::vector<int>{32}}) {
    TrainOptions options;
    options.hidden = hidden;
    options.learning_rate = hidden.empty() ? 1e-2 : 1e-3;
    TrainResult result = Train(train, labels(train), validation, labels(validation), options, nullptr);
    ASSERT_TRUE(ValidateModel(result.model, "trained").ok());
    std::vector<double> scores;
    for (size_t i = 0; i < held_out.rows(); ++i) scores.push_back(ScoreWithModel(result.model, held_out.row(i)));
    const BudgetMetrics metrics = AtBudget(scores, labels(held_out), 0.3);
    EXPECT_GT(metrics.auc, 0.75) << (hidden.empty() ? "logistic" : "mlp");
    EXPECT_GT(metrics.recall_at_k, 1.5 * metrics.random_recall_at_k) << (hidden.empty() ? "logistic" : "mlp");
    // Deterministic for a seed.
    TrainResult again = Train(train, labels(train), validation, labels(validation), options, nullptr);
    EXPECT_EQ(again.model.SerializeAsString(), result.model.SerializeAsString());
  }
  std::filesystem::remove_all(dir);
}

TEST(LearningModelFile, RoundTripsAndRefusesDamage) {
  const std::string dir = ScratchDir("model");
  v1::LearnedModel model;
  model.set_format_version(kLearnedModelFormatVersion);
  model.set_feature_set(std::string(kStepFeaturesV1));
  model.set_feature_count(kStepFeaturesV1Size);
  for (int i = 0; i < kStepFeaturesV1Size; ++i) {
    model.add_feature_mean(0.5f);
    model.add_feature_scale(2.0f);
    model.mutable_logistic()->add_weights(0.01f * i);
  }
  const std::string path = dir + "/model.bin";
  ASSERT_TRUE(WriteModelFile(model, path).ok());
  absl::StatusOr<v1::LearnedModel> read = ReadModelFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->SerializeAsString(), model.SerializeAsString());

  // Truncated, and one byte flipped: errors naming the file and the offset.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_EQ(bytes.substr(0, 8), "QCMODEL1");
  std::ofstream(dir + "/truncated.bin", std::ios::binary) << bytes.substr(0, bytes.size() - 7);
  absl::StatusOr<v1::LearnedModel> truncated = ReadModelFile(dir + "/truncated.bin");
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find(dir + "/truncated.bin: offset "), std::string::npos) << truncated.status();
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x10;
  std::ofstream(dir + "/flipped.bin", std::ios::binary) << flipped;
  absl::StatusOr<v1::LearnedModel> damaged = ReadModelFile(dir + "/flipped.bin");
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.status().message().find("offset 16: payload checksum"), std::string::npos) << damaged.status();
  // A bare protobuf (no header) is not a model file.
  std::ofstream(dir + "/bare.bin", std::ios::binary) << model.SerializeAsString();
  EXPECT_FALSE(ReadModelFile(dir + "/bare.bin").ok());

  v1::LearnedModel foreign = model;
  foreign.set_format_version(2);
  std::ofstream(dir + "/foreign.bin", std::ios::binary) << SerializeModelFile(foreign);
  absl::StatusOr<v1::LearnedModel> refused = ReadModelFile(dir + "/foreign.bin");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("format_version 2, this build reads 1"), std::string::npos);

  v1::LearnedModel unknown_set = model;
  unknown_set.set_feature_set("quantclaw.step.v9");
  EXPECT_FALSE(ValidateModel(unknown_set, "m").ok());
  v1::LearnedModel short_weights = model;
  short_weights.mutable_logistic()->mutable_weights()->RemoveLast();
  EXPECT_FALSE(ValidateModel(short_weights, "m").ok());
  v1::LearnedModel bad_mlp = model;
  v1::DenseLayer* layer = bad_mlp.mutable_mlp()->add_layers();
  layer->set_inputs(kStepFeaturesV1Size);
  layer->set_outputs(2);  // the last layer must have one output
  layer->mutable_weights()->Resize(2 * kStepFeaturesV1Size, 0.0f);
  layer->mutable_biases()->Resize(2, 0.0f);
  EXPECT_FALSE(ValidateModel(bad_mlp, "m").ok());
  EXPECT_FALSE(ReadModelFile(dir + "/missing.bin").ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace quantclaw::learning
