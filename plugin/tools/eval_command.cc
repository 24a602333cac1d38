// quantclaw eval MODEL TRACES... --budget K [--exclude-step-kind KIND,...]
// Scores every step with a KL, labels it by the model's own label_kl_threshold, and measures how many of
// the high-KL steps the model's top-K fraction of scores catches, against a blind router (K, by
// expectation rather than by simulation) and an oracle that knows the labels.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "learning/metrics.h"
#include "learning/model_file.h"
#include "tools/learning_cli.h"

namespace quantclaw::tools {

using absl::StrCat;

int RunEval(const std::vector<std::string>& args) {
  const std::string command = "eval";
  absl::StatusOr<Arguments> parsed = ParseArguments(args, {"--budget", kExcludeStepKind}, {});
  if (!parsed.ok()) return Fail(command, std::string(parsed.status().message()));
  if (parsed->positional.size() < 2 || !parsed->Value("--budget")) {
    return Fail(command, "usage: quantclaw eval MODEL TRACES... --budget K [--exclude-step-kind KIND,...]");
  }
  absl::StatusOr<double> budget = ParseFraction("--budget", *parsed->Value("--budget"));
  if (!budget.ok()) return Fail(command, std::string(budget.status().message()));
  absl::StatusOr<v1::LearnedModel> model = learning::ReadModelFile(parsed->positional[0]);
  if (!model.ok()) return Fail(command, std::string(model.status().message()));

  learning::LoadReport report;
  size_t excluded = 0;
  const std::vector<std::string> traces(parsed->positional.begin() + 1, parsed->positional.end());
  absl::StatusOr<learning::StepTable> table =
      ReadSteps(command, traces, /*labelled_only=*/true, *parsed, &report, &excluded);
  if (!table.ok()) return Fail(command, std::string(table.status().message()));
  if (table->rows() == 0) {
    return Fail(command, StrCat("no records with a kl_divergence in ", report.records, " records of ", report.files,
                                " trace file(s): nothing to evaluate against"));
  }
  const std::vector<bool> labels = LabelsAbove(table->kl, model->label_kl_threshold());
  const std::vector<double> scores = ScoreAll(*model, *table);
  const learning::BudgetMetrics metrics = learning::AtBudget(scores, labels, *budget);

  std::printf("%zu steps, %zu high-KL (KL > %.4g, the model's label threshold)\n", metrics.steps, metrics.positives,
              model->label_kl_threshold());
  std::printf("at K = %.2f (score >= %.4f): recall %.3f, random %.3f, oracle %.3f, realized high fraction %.3f; "
              "AUC %.3f\n",
              *budget, metrics.threshold, metrics.recall_at_k, metrics.random_recall_at_k, metrics.oracle_recall_at_k,
              metrics.realized_high_fraction, metrics.auc);
  if (metrics.positives == 0) PrintWarnings(command, {"no high-KL step in these traces: recall is undefined (0)"});

  boost::json::object json;
  json["command"] = command;
  json["ok"] = true;
  json["excluded_steps"] = excluded;
  json["budget"] = *budget;
  json["recall_at_k"] = metrics.recall_at_k;
  json["random_recall_at_k"] = metrics.random_recall_at_k;
  json["random_recall_method"] = "expectation";
  json["oracle_recall_at_k"] = metrics.oracle_recall_at_k;
  json["realized_high_fraction"] = metrics.realized_high_fraction;
  json["auc"] = metrics.auc;
  json["score_threshold"] = metrics.threshold;
  json["steps"] = metrics.steps;
  json["positives"] = metrics.positives;
  json["label_kl_threshold"] = model->label_kl_threshold();
  json["warnings"] = report.warnings.size();
  // A threshold calibrated for this K on other traces (quantclaw calibrate): what it realizes here is what
  // deployment would see; DMR appendix D shows why it can differ from K.
  for (const v1::Calibration& calibration : model->calibrations()) {
    if (calibration.task_type().empty() && std::abs(calibration.budget() - *budget) < 1e-9) {
      const learning::BudgetMetrics calibrated = learning::AtBudget(scores, labels, *budget, calibration.threshold());
      boost::json::object at;
      at["score_threshold"] = calibration.threshold();
      at["recall"] = calibrated.recall_at_k;
      at["realized_high_fraction"] = calibrated.realized_high_fraction;
      json["calibrated"] = at;
      std::printf("with the model's calibrated threshold %.4f: recall %.3f, realized high fraction %.3f\n",
                  calibration.threshold(), calibrated.recall_at_k, calibrated.realized_high_fraction);
    }
  }
  PrintJson(json);
  return kExitOk;
}

}  // namespace quantclaw::tools
