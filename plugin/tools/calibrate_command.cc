// quantclaw calibrate MODEL TRACES... --budget K [--per-task-type] [--min-steps N] [-o MODEL2]
//                     [--exclude-step-kind KIND,...]
// DMR eq. 7: the score threshold that sends a share K of these steps high is the (1 - K) quantile of
// their scores. Run it on deployment-like traces (DMR appendix D: scores shift between the training pool
// and deployment). Labels are not needed, so every record counts, with a KL or without.
#include <cstdio>
#include <map>

#include "absl/strings/str_cat.h"
#include "learning/metrics.h"
#include "learning/model_file.h"
#include "tools/learning_cli.h"

namespace quantclaw::tools {

using absl::StrCat;

int RunCalibrate(const std::vector<std::string>& args) {
  const std::string command = "calibrate";
  absl::StatusOr<Arguments> parsed = ParseArguments(args, {"--budget", "-o", "--min-steps", kExcludeStepKind}, {"--per-task-type"});
  if (!parsed.ok()) return Fail(command, std::string(parsed.status().message()));
  if (parsed->positional.size() < 2 || !parsed->Value("--budget")) {
    return Fail(command, "usage: quantclaw calibrate MODEL TRACES... --budget K [--per-task-type] [-o MODEL2] "
                         "[--exclude-step-kind KIND,...]");
  }
  absl::StatusOr<double> budget = ParseFraction("--budget", *parsed->Value("--budget"));
  if (!budget.ok()) return Fail(command, std::string(budget.status().message()));
  uint64_t min_steps = 30;  // fewer scores than this make a (1 - K) quantile mostly noise
  if (auto text = parsed->Value("--min-steps")) {
    auto value = ParseCount("--min-steps", *text);
    if (!value.ok() || *value == 0) return Fail(command, "--min-steps: expected a whole number >= 1");
    min_steps = *value;
  }
  const bool per_task_type = parsed->flags.count("--per-task-type") > 0;
  absl::StatusOr<v1::LearnedModel> model = learning::ReadModelFile(parsed->positional[0]);
  if (!model.ok()) return Fail(command, std::string(model.status().message()));

  learning::LoadReport report;
  size_t excluded = 0;
  const std::vector<std::string> traces(parsed->positional.begin() + 1, parsed->positional.end());
  absl::StatusOr<learning::StepTable> table =
      ReadSteps(command, traces, /*labelled_only=*/false, *parsed, &report, &excluded);
  if (!table.ok()) return Fail(command, std::string(table.status().message()));
  if (table->rows() == 0) return Fail(command, StrCat("no readable records in ", report.files, " trace file(s)"));

  const std::vector<double> scores = ScoreAll(*model, *table);
  std::vector<v1::Calibration> found;
  v1::Calibration overall;
  overall.set_budget(*budget);
  overall.set_threshold(learning::BudgetThreshold(scores, *budget));
  found.push_back(overall);
  std::printf("%zu steps; at K = %.2f the threshold is %.6f (all steps)\n", scores.size(), *budget, overall.threshold());

  boost::json::object json;
  json["command"] = command;
  json["ok"] = true;
  json["excluded_steps"] = excluded;
  json["budget"] = *budget;
  json["steps"] = scores.size();
  json["threshold"] = overall.threshold();
  if (per_task_type) {
    std::map<std::string, std::vector<double>> by_type;
    for (size_t i = 0; i < scores.size(); ++i) {
      if (!table->task_type[i].empty()) by_type[table->task_type[i]].push_back(scores[i]);
    }
    boost::json::object types;
    boost::json::array skipped;
    for (const auto& [type, type_scores] : by_type) {
      if (type_scores.size() < min_steps) {
        std::printf("  %-20s %6zu steps: too few (< %llu), uses the overall threshold\n", type.c_str(),
                    type_scores.size(), static_cast<unsigned long long>(min_steps));
        skipped.emplace_back(type);
        continue;
      }
      v1::Calibration calibration;
      calibration.set_budget(*budget);
      calibration.set_task_type(type);
      calibration.set_threshold(learning::BudgetThreshold(type_scores, *budget));
      found.push_back(calibration);
      std::printf("  %-20s %6zu steps: threshold %.6f\n", type.c_str(), type_scores.size(), calibration.threshold());
      boost::json::object one;
      one["threshold"] = calibration.threshold();
      one["steps"] = type_scores.size();
      types[type] = one;
    }
    if (by_type.empty()) PrintWarnings(command, {"no record names a task type: only the overall threshold"});
    json["per_task_type"] = types;
    json["skipped_task_types"] = skipped;
  }
  if (auto output = parsed->Value("-o")) {
    // A calibration for the same budget and task type replaces the old one; others stay.
    v1::LearnedModel calibrated = *model;
    google::protobuf::RepeatedPtrField<v1::Calibration> kept;
    for (const v1::Calibration& old : calibrated.calibrations()) {
      bool replaced = false;
      for (const v1::Calibration& fresh : found) {
        replaced |= std::abs(old.budget() - fresh.budget()) < 1e-9 && old.task_type() == fresh.task_type();
      }
      if (!replaced) *kept.Add() = old;
    }
    for (const v1::Calibration& fresh : found) *kept.Add() = fresh;
    calibrated.mutable_calibrations()->Swap(&kept);
    if (absl::Status status = learning::WriteModelFile(calibrated, *output); !status.ok()) {
      return Fail(command, std::string(status.message()));
    }
    std::printf("wrote %d calibration(s) into %s\n", calibrated.calibrations_size(), output->c_str());
    json["written"] = *output;
  }
  json["warnings"] = report.warnings.size();
  PrintJson(json);
  return kExitOk;
}

}  // namespace quantclaw::tools
