// quantclaw train TRACES... -o MODEL [--model logistic|mlp] [--seed N] [--holdout F] [--budget K]
//                 [--hidden 32[,16]] [--kl-threshold X] [--label-quantile Q] [--max-epochs N]
//                 [--exclude-step-kind KIND,...]
// Labels the steps with a KL by the sparse valley of the log-KL histogram (learning/kl_threshold.h), splits
// them by session into train / validation (early stopping) / held-out, trains a logistic model and an
// MLP, prints both on the held-out sessions and writes one: the one asked, else the one with the better
// validation AUC (the held-out figures never choose, so they stay honest).
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "learning/kl_threshold.h"
#include "learning/metrics.h"
#include "learning/model_file.h"
#include "learning/trainer.h"
#include "tools/learning_cli.h"

namespace quantclaw::tools {
namespace {

using absl::StrCat;

struct Candidate {
  std::string name;
  learning::TrainResult trained;
  double validation_auc = 0;
  learning::BudgetMetrics holdout;
};

boost::json::object MetricsJson(const learning::BudgetMetrics& metrics) {
  boost::json::object json;
  json["recall_at_k"] = metrics.recall_at_k;
  json["random_recall_at_k"] = metrics.random_recall_at_k;
  json["oracle_recall_at_k"] = metrics.oracle_recall_at_k;
  json["realized_high_fraction"] = metrics.realized_high_fraction;
  json["auc"] = metrics.auc;
  json["steps"] = metrics.steps;
  json["positives"] = metrics.positives;
  return json;
}

}  // namespace

int RunTrain(const std::vector<std::string>& args) {
  const std::string command = "train";
  absl::StatusOr<Arguments> parsed = ParseArguments(
      args, {"-o", "--model", "--seed", "--holdout", "--budget", "--hidden", "--kl-threshold", "--label-quantile",
             "--max-epochs", kExcludeStepKind},
      {});
  if (!parsed.ok()) return Fail(command, std::string(parsed.status().message()));
  if (parsed->positional.empty() || !parsed->Value("-o")) {
    return Fail(command, "usage: quantclaw train TRACES... -o MODEL [--model logistic|mlp] [--seed N] [--holdout F]");
  }
  const std::string output = *parsed->Value("-o");
  const std::string asked = parsed->Value("--model").value_or("");
  if (!asked.empty() && asked != "logistic" && asked != "mlp") {
    return Fail(command, StrCat("--model ", asked, ": expected logistic or mlp"));
  }
  uint64_t seed = 1, max_epochs = 150;
  double holdout = 0.2, budget = 0.3, label_quantile = 0.8;
  std::vector<int> hidden = {32};
  if (auto text = parsed->Value("--seed")) {
    auto value = ParseCount("--seed", *text);
    if (!value.ok()) return Fail(command, std::string(value.status().message()));
    seed = *value;
  }
  if (auto text = parsed->Value("--max-epochs")) {
    auto value = ParseCount("--max-epochs", *text);
    if (!value.ok() || *value == 0 || *value > 100000) return Fail(command, "--max-epochs: expected 1..100000");
    max_epochs = *value;
  }
  for (auto [option, target] : {std::pair{"--holdout", &holdout}, std::pair{"--budget", &budget},
                                std::pair{"--label-quantile", &label_quantile}}) {
    if (auto text = parsed->Value(option)) {
      auto value = ParseFraction(option, *text);
      if (!value.ok()) return Fail(command, std::string(value.status().message()));
      *target = *value;
    }
  }
  if (auto text = parsed->Value("--hidden")) {
    hidden.clear();
    for (absl::string_view part : absl::StrSplit(*text, ',')) {
      auto width = ParseCount("--hidden", std::string(part));
      if (!width.ok() || *width == 0 || *width > static_cast<uint64_t>(learning::kModelMaxWidth)) {
        return Fail(command, StrCat("--hidden ", *text, ": widths 1..", learning::kModelMaxWidth));
      }
      hidden.push_back(static_cast<int>(*width));
    }
    if (hidden.size() + 1 > static_cast<size_t>(learning::kModelMaxLayers)) {
      return Fail(command, StrCat("--hidden ", *text, ": at most ", learning::kModelMaxLayers - 1, " hidden layers"));
    }
  }

  learning::LoadReport report;
  size_t excluded = 0;
  absl::StatusOr<learning::StepTable> table =
      ReadSteps(command, parsed->positional, /*labelled_only=*/true, *parsed, &report, &excluded);
  if (!table.ok()) return Fail(command, std::string(table.status().message()));
  if (table->rows() == 0) {
    return Fail(command, StrCat("no records with a kl_divergence in ", report.records, " records of ", report.files,
                                " trace file(s): nothing to learn from (is shadow sampling on?)"));
  }

  // The label threshold: given, or the valley of the log-KL histogram over every labelled step. It reads
  // KL only, never features, so finding it over all steps leaks nothing into the held-out figures.
  learning::KlThreshold threshold;
  if (auto text = parsed->Value("--kl-threshold")) {
    char* end = nullptr;
    threshold.threshold = std::strtod(text->c_str(), &end);
    if (end != text->c_str() + text->size() || !(threshold.threshold >= 0) || !std::isfinite(threshold.threshold)) {
      return Fail(command, StrCat("--kl-threshold ", *text, ": expected a KL divergence >= 0"));
    }
    threshold.method = "given";
  } else {
    threshold = learning::FindKlThreshold(table->kl, label_quantile);
  }
  const std::vector<bool> labels = LabelsAbove(table->kl, threshold.threshold);
  size_t positives = 0;
  for (bool label : labels) positives += label;
  std::printf("read %llu records from %d file(s); %zu with a KL%s\n", static_cast<unsigned long long>(report.records),
              report.files, table->rows(),
              excluded > 0 ? StrCat(" (", excluded, " more left out by ", kExcludeStepKind, ")").c_str() : "");
  if (threshold.method == "valley") {
    std::printf("label threshold: KL > %.4g (valley of the log-KL histogram between modes at 1e%.2f and 1e%.2f; "
                "sparse plateau 1e%.2f..1e%.2f)\n",
                threshold.threshold, threshold.low_mode_log10, threshold.high_mode_log10, threshold.valley_from_log10,
                threshold.valley_to_log10);
  } else if (threshold.method == "quantile") {
    std::printf("label threshold: KL > %.4g (no valley: the log-KL histogram is unimodal; fell back to the %.2f "
                "quantile)\n",
                threshold.threshold, label_quantile);
  } else {
    std::printf("label threshold: KL > %.4g (given)\n", threshold.threshold);
  }
  std::printf("label balance: %zu high (%.1f%%), %zu low\n", positives, 100.0 * positives / table->rows(),
              table->rows() - positives);
  if (positives == 0 || positives == table->rows()) {
    return Fail(command, StrCat("every labelled step is ", positives == 0 ? "low" : "high", " at KL threshold ",
                                threshold.threshold, ": nothing to separate"));
  }

  absl::StatusOr<learning::Split> split = learning::SplitByGroup(table->group, holdout, 0.15, seed);
  if (!split.ok()) return Fail(command, std::string(split.status().message()));
  const learning::StepTable train = table->Subset(split->train);
  const learning::StepTable validation = table->Subset(split->validation);
  const learning::StepTable held_out = table->Subset(split->holdout);
  const std::vector<bool> train_labels = LabelsAbove(train.kl, threshold.threshold);
  const std::vector<bool> validation_labels = LabelsAbove(validation.kl, threshold.threshold);
  const std::vector<bool> held_out_labels = LabelsAbove(held_out.kl, threshold.threshold);
  std::printf("split by session: train %zu steps (%zu sessions), validation %zu (%zu), held out %zu (%zu)\n",
              train.rows(), split->train_groups, validation.rows(), split->validation_groups, held_out.rows(),
              split->holdout_groups);

  std::vector<Candidate> candidates;
  for (const std::string name : {"logistic", "mlp"}) {
    learning::TrainOptions options;
    options.seed = seed;
    options.max_epochs = static_cast<int>(max_epochs);
    if (name == "mlp") {
      options.hidden = hidden;
      options.learning_rate = 1e-3;
    } else {
      options.learning_rate = 1e-2;
    }
    Candidate candidate;
    candidate.name = name;
    {
      Progress progress(StrCat("training ", name));
      candidate.trained = learning::Train(train, train_labels, validation, validation_labels, options,
                                          [&](int epoch, double loss) {
                                            progress.Text(StrCat("epoch ", epoch, ", validation loss ", loss));
                                          });
    }
    candidate.trained.model.set_label_kl_threshold(threshold.threshold);
    candidate.validation_auc = learning::Auc(ScoreAll(candidate.trained.model, validation), validation_labels);
    candidate.holdout = learning::AtBudget(ScoreAll(candidate.trained.model, held_out), held_out_labels, budget);
    std::printf("%-8s epochs %d (best %d)  validation AUC %.3f  held out: AUC %.3f, recall@%.2f %.3f "
                "(random %.3f, oracle %.3f)\n",
                name.c_str(), candidate.trained.epochs, candidate.trained.best_epoch, candidate.validation_auc,
                candidate.holdout.auc, budget, candidate.holdout.recall_at_k, candidate.holdout.random_recall_at_k,
                candidate.holdout.oracle_recall_at_k);
    candidates.push_back(std::move(candidate));
  }
  if (held_out.rows() > 0 && candidates[0].holdout.positives == 0) {
    PrintWarnings(command, {"the held-out sessions have no high-KL step: their recall and AUC say nothing"});
  }
  // Ties go to the logistic model: it is cheaper per decision.
  size_t chosen = 0;
  if (asked == "mlp" || (asked.empty() && candidates[1].validation_auc > candidates[0].validation_auc)) chosen = 1;
  Candidate& winner = candidates[chosen];

  boost::json::object json;
  json["command"] = command;
  json["ok"] = true;
  json["excluded_steps"] = excluded;
  json["model_path"] = output;
  json["model"] = winner.name;
  json["chosen_by"] = asked.empty() ? "validation_auc" : "--model";
  json["seed"] = seed;
  json["budget"] = budget;
  json["records"] = report.records;
  json["labelled_steps"] = table->rows();
  json["warnings"] = report.warnings.size();
  json["label_kl_threshold"] = threshold.threshold;
  json["threshold_method"] = threshold.method;
  json["positives"] = positives;
  json["negatives"] = table->rows() - positives;
  json["positive_fraction"] = static_cast<double>(positives) / table->rows();
  json["train_steps"] = train.rows();
  json["validation_steps"] = validation.rows();
  json["held_out_steps"] = held_out.rows();
  json["held_out_sessions"] = split->holdout_groups;
  boost::json::object held;
  for (const Candidate& candidate : candidates) {
    boost::json::object one = MetricsJson(candidate.holdout);
    one["validation_auc"] = candidate.validation_auc;
    one["epochs"] = candidate.trained.epochs;
    held[candidate.name] = std::move(one);
  }
  json["held_out"] = held;

  // Provenance: the same facts, for a person reading the model later.
  boost::json::object provenance = json;
  provenance.erase("ok");
  provenance.erase("command");
  boost::json::array traces;
  for (const std::string& path : parsed->positional) traces.emplace_back(path);
  provenance["traces"] = traces;
  provenance["tool"] = "quantclaw train";
  winner.trained.model.set_provenance(boost::json::serialize(provenance));
  if (absl::Status status = learning::WriteModelFile(winner.trained.model, output); !status.ok()) {
    return Fail(command, std::string(status.message()));
  }
  std::printf("wrote %s model to %s\n", winner.name.c_str(), output.c_str());
  PrintJson(json);
  return kExitOk;
}

}  // namespace quantclaw::tools
