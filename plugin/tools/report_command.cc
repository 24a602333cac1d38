// quantclaw report TRACES... [--model MODEL] [--budget K] [--label-quantile Q] [--exclude-step-kind KIND,...] -o DIR
// Writes SVG charts and an index.html that shows them:
//   kl_histogram.svg       the log-KL histogram (bars, smoothed curve) and the label threshold
//   kl_by_step_kind.svg    KL per step kind: box (quartiles, 5-95% whiskers) over the jittered steps
//   score_distribution.svg (with --model) the scores of high- and low-KL steps and the budget threshold
//   recall_at_k.svg        (with --model) recall against K for the model, a random router and the oracle
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "learning/kl_threshold.h"
#include "learning/metrics.h"
#include "learning/model_file.h"
#include "learning/svg_chart.h"
#include "tools/learning_cli.h"

namespace quantclaw::tools {
namespace {

using absl::StrCat;
using absl::StrFormat;
using learning::SvgChart;

constexpr const char* kHighColour = "#d62728";
constexpr const char* kLowColour = "#1f77b4";
constexpr const char* kModelColour = "#2ca02c";

double SortedAt(const std::vector<double>& sorted, double q) {
  const double at = q * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(at));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  return sorted[below] + (at - static_cast<double>(below)) * (sorted[above] - sorted[below]);
}

std::string KlHistogram(const std::vector<double>& kl, const learning::KlThreshold& threshold) {
  const learning::KlHistogram histogram = learning::LogKlHistogram(kl);
  const double x_min = histogram.log10_min, x_max = x_min + histogram.bin_width * histogram.counts.size();
  const double line = std::log10(std::max(threshold.threshold, learning::kKlFloor));
  const double peak = *std::max_element(histogram.counts.begin(), histogram.counts.end());
  SvgChart chart("Per-step KL(reference || low)", "KL divergence (log scale)", "steps per bin",
                 std::min(x_min, line - 0.1), std::max(x_max, line + 0.1), 0, std::max(1.0, peak * 1.1));
  chart.SetLogTicksX();
  chart.Note(StrFormat("%zu labelled steps; label threshold KL > %.3g (%s)", kl.size(), threshold.threshold,
                       threshold.method == "valley"     ? "valley of the smoothed histogram"
                       : threshold.method == "quantile" ? "no valley found: a quantile"
                                                        : threshold.method));
  std::vector<std::pair<double, double>> smooth;
  for (size_t i = 0; i < histogram.counts.size(); ++i) {
    const double from = x_min + i * histogram.bin_width;
    const bool high = from + 0.5 * histogram.bin_width > line;
    chart.Bar(from, from + histogram.bin_width, histogram.counts[i], high ? kHighColour : kLowColour, 0.75);
    smooth.push_back({from + 0.5 * histogram.bin_width, histogram.smoothed[i]});
  }
  chart.Polyline(smooth, "#333", 1.5);
  chart.VerticalRule(line, "#000", StrFormat("threshold %.3g", threshold.threshold));
  chart.Legend("labelled low (KL <= threshold)", kLowColour);
  chart.Legend("labelled high", kHighColour);
  chart.Legend("smoothed density", "#333");
  return chart.Render();
}

std::string KlByStepKind(const learning::StepTable& table, double threshold) {
  std::map<std::string, std::vector<double>> by_kind;
  for (size_t i = 0; i < table.rows(); ++i) {
    if (std::isnan(table.kl[i])) continue;
    by_kind[table.step_kind[i].empty() ? "(none)" : table.step_kind[i]].push_back(
        std::log10(std::max(table.kl[i], learning::kKlFloor)));
  }
  // The twelve commonest kinds, most steps first.
  std::vector<std::pair<std::string, std::vector<double>>> kinds(by_kind.begin(), by_kind.end());
  std::stable_sort(kinds.begin(), kinds.end(), [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
  if (kinds.size() > 12) kinds.resize(12);
  double low = std::log10(std::max(threshold, learning::kKlFloor)), high = low;
  for (const auto& [kind, values] : kinds) {
    for (double v : values) {
      low = std::min(low, v);
      high = std::max(high, v);
    }
  }
  SvgChart chart("KL by step kind", "step kind (steps)", "log10 KL", -0.5, kinds.size() - 0.5, std::floor(low),
                 std::ceil(high));
  std::vector<std::string> names;
  chart.Note("each dot one step (jittered sideways); box: quartiles and median; whiskers: 5th-95th percentile");
  for (size_t k = 0; k < kinds.size(); ++k) {
    std::vector<double>& values = kinds[k].second;
    names.push_back(StrCat(kinds[k].first, " (", values.size(), ")"));
    const size_t stride = std::max<size_t>(1, values.size() / 600);  // at most ~600 dots per kind
    for (size_t i = 0; i < values.size(); i += stride) {
      const double jitter = (static_cast<double>((i * 2654435761u) % 1000) / 1000.0 - 0.5) * 0.5;
      chart.Point(k + jitter, values[i], values[i] > std::log10(std::max(threshold, learning::kKlFloor)) ? kHighColour
                                                                                                        : kLowColour,
                  1.8, 0.35);
    }
    std::sort(values.begin(), values.end());
    chart.Box(k, 0.3, SortedAt(values, 0.05), SortedAt(values, 0.25), SortedAt(values, 0.5), SortedAt(values, 0.75),
              SortedAt(values, 0.95), "#222");
  }
  chart.SetCategoriesX(names);
  const double line = std::log10(std::max(threshold, learning::kKlFloor));
  chart.Polyline({{-0.5, line}, {kinds.size() - 0.5, line}}, "#000", 1.5, "6,4");
  chart.Legend(StrFormat("label threshold %.3g", threshold), "#000", true);
  return chart.Render();
}

std::string ScoreDistribution(const std::vector<double>& scores, const std::vector<double>& kl, double label_threshold,
                              double budget, double threshold, std::optional<double> calibrated) {
  constexpr int kBins = 40;
  std::vector<double> high(kBins, 0), low(kBins, 0), unlabelled(kBins, 0);
  size_t labelled = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    const int bin = std::clamp(static_cast<int>(scores[i] * kBins), 0, kBins - 1);
    if (std::isnan(kl[i])) {
      ++unlabelled[bin];
    } else {
      ++labelled;
      ++(kl[i] > label_threshold ? high : low)[bin];
    }
  }
  double peak = 1;
  for (int b = 0; b < kBins; ++b) peak = std::max({peak, high[b], low[b], unlabelled[b]});
  SvgChart chart("Score distribution", "model score (probability the step needs high precision)", "steps", 0, 1, 0,
                 peak * 1.1);
  chart.Note(StrFormat("%zu steps (%zu with a KL label); K = %.2f sends scores >= %.4f high", scores.size(), labelled,
                       budget, threshold));
  for (int b = 0; b < kBins; ++b) {
    const double from = static_cast<double>(b) / kBins, to = static_cast<double>(b + 1) / kBins;
    if (unlabelled[b] > 0) chart.Bar(from, to, unlabelled[b], "#999", 0.5);
    chart.Bar(from, to, low[b], kLowColour, 0.55);
    chart.Bar(from, to, high[b], kHighColour, 0.55);
  }
  chart.VerticalRule(threshold, "#000", StrFormat("K=%.2f: %.3f", budget, threshold));
  if (calibrated) chart.VerticalRule(*calibrated, kModelColour, StrFormat("calibrated %.3f", *calibrated), "2,3");
  chart.Legend("high-KL steps", kHighColour);
  chart.Legend("low-KL steps", kLowColour);
  if (labelled < scores.size()) chart.Legend("no KL measured", "#999");
  return chart.Render();
}

std::string RecallCurves(const std::vector<double>& scores, const std::vector<bool>& labels, double budget,
                         const learning::BudgetMetrics& at_budget) {
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  const double positives = static_cast<double>(at_budget.positives);
  std::vector<std::pair<double, double>> model = {{0, 0}}, oracle = {{0, 0}};
  size_t caught = 0;
  const size_t stride = std::max<size_t>(1, n / 400);
  for (size_t m = 1; m <= n; ++m) {
    caught += labels[order[m - 1]];
    if (m % stride == 0 || m == n) model.push_back({static_cast<double>(m) / n, caught / positives});
  }
  oracle.push_back({positives / n, 1});
  oracle.push_back({1, 1});
  SvgChart chart("Recall at K", "K: share of steps sent to the high tier", "share of high-KL steps sent high", 0, 1, 0, 1);
  chart.Note(StrFormat("%zu steps, %zu high-KL; at K = %.2f: model %.3f, random %.3f, oracle %.3f; AUC %.3f", n,
                       at_budget.positives, budget, at_budget.recall_at_k, at_budget.random_recall_at_k,
                       at_budget.oracle_recall_at_k, at_budget.auc));
  chart.Polyline(oracle, "#ff7f0e", 2, "6,4");
  chart.Polyline({{0, 0}, {1, 1}}, "#7f7f7f", 2, "2,4");
  chart.Polyline(model, kModelColour, 2.5);
  chart.VerticalRule(budget, "#000", StrFormat("K = %.2f", budget), "4,4");
  chart.LegendAtBottomRight();
  chart.Legend("model", kModelColour);
  chart.Legend("oracle", "#ff7f0e", true);
  chart.Legend("random (K)", "#7f7f7f", true);
  return chart.Render();
}

}  // namespace

int RunReport(const std::vector<std::string>& args) {
  const std::string command = "report";
  absl::StatusOr<Arguments> parsed = ParseArguments(args, {"-o", "--model", "--budget", "--label-quantile", kExcludeStepKind}, {});
  if (!parsed.ok()) return Fail(command, std::string(parsed.status().message()));
  if (parsed->positional.empty() || !parsed->Value("-o")) {
    return Fail(command, "usage: quantclaw report TRACES... [--model MODEL] [--budget K] [--exclude-step-kind KIND,...] -o DIR");
  }
  double budget = 0.3, label_quantile = 0.8;
  for (auto [option, target] : {std::pair{"--budget", &budget}, std::pair{"--label-quantile", &label_quantile}}) {
    if (auto text = parsed->Value(option)) {
      auto value = ParseFraction(option, *text);
      if (!value.ok()) return Fail(command, std::string(value.status().message()));
      *target = *value;
    }
  }
  std::optional<v1::LearnedModel> model;
  if (auto path = parsed->Value("--model")) {
    absl::StatusOr<v1::LearnedModel> read = learning::ReadModelFile(*path);
    if (!read.ok()) return Fail(command, std::string(read.status().message()));
    model = std::move(*read);
  }
  learning::LoadReport report;
  size_t excluded = 0;
  absl::StatusOr<learning::StepTable> table =
      ReadSteps(command, parsed->positional, /*labelled_only=*/false, *parsed, &report, &excluded);
  if (!table.ok()) return Fail(command, std::string(table.status().message()));
  std::vector<double> kl;
  for (double value : table->kl) {
    if (!std::isnan(value)) kl.push_back(value);
  }
  if (kl.empty() && !model) {
    return Fail(command, StrCat("no records with a kl_divergence in ", report.records,
                                " records, and no --model: nothing to plot"));
  }
  const std::string directory = *parsed->Value("-o");
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return Fail(command, StrCat(directory, ": cannot create: ", ec.message()));

  learning::KlThreshold threshold;
  if (model) {
    threshold.threshold = model->label_kl_threshold();
    threshold.method = "the model's";
  } else {
    threshold = learning::FindKlThreshold(kl, label_quantile);
  }
  std::vector<std::pair<std::string, std::string>> charts;  // file, caption
  std::map<std::string, std::string> contents;
  if (!kl.empty()) {
    contents["kl_histogram.svg"] = KlHistogram(kl, threshold);
    charts.push_back({"kl_histogram.svg", "Per-step KL, log scale, with the label threshold"});
    contents["kl_by_step_kind.svg"] = KlByStepKind(*table, threshold.threshold);
    charts.push_back({"kl_by_step_kind.svg", "KL by step kind"});
  }
  boost::json::object json;
  json["command"] = command;
  json["ok"] = true;
  json["excluded_steps"] = excluded;
  json["steps"] = table->rows();
  json["labelled_steps"] = kl.size();
  json["label_kl_threshold"] = threshold.threshold;
  json["threshold_method"] = threshold.method;
  json["budget"] = budget;
  if (model) {
    const std::vector<double> scores = ScoreAll(*model, *table);
    const double score_threshold = learning::BudgetThreshold(scores, budget);
    std::optional<double> calibrated;
    for (const v1::Calibration& calibration : model->calibrations()) {
      if (calibration.task_type().empty() && std::abs(calibration.budget() - budget) < 1e-9) {
        calibrated = calibration.threshold();
      }
    }
    contents["score_distribution.svg"] =
        ScoreDistribution(scores, table->kl, threshold.threshold, budget, score_threshold, calibrated);
    charts.push_back({"score_distribution.svg", "Scores of high- and low-KL steps, with the budget threshold"});
    json["score_threshold"] = score_threshold;
    std::vector<double> labelled_scores;
    for (size_t i = 0; i < scores.size(); ++i) {
      if (!std::isnan(table->kl[i])) labelled_scores.push_back(scores[i]);
    }
    const std::vector<bool> labels = LabelsAbove(kl, threshold.threshold);
    const learning::BudgetMetrics metrics = learning::AtBudget(labelled_scores, labels, budget);
    if (metrics.positives > 0 && metrics.positives < metrics.steps) {
      contents["recall_at_k.svg"] = RecallCurves(labelled_scores, labels, budget, metrics);
      charts.push_back({"recall_at_k.svg", "Recall at K: model, random and oracle"});
      json["recall_at_k"] = metrics.recall_at_k;
      json["random_recall_at_k"] = metrics.random_recall_at_k;
      json["oracle_recall_at_k"] = metrics.oracle_recall_at_k;
      json["auc"] = metrics.auc;
    } else {
      PrintWarnings(command, {"the labelled steps are all of one class: no recall curve"});
    }
  }
  std::string html =
      "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>quantclaw report</title>\n"
      "<style>body{font-family:Helvetica,Arial,sans-serif;margin:2em;max-width:820px}"
      "figure{margin:0 0 2em 0}figcaption{color:#555}</style></head><body>\n<h1>quantclaw report</h1>\n";
  html += StrFormat("<p>%zu steps from %d trace file(s), %zu with a KL label; label threshold KL &gt; %.4g (%s).",
                    table->rows(), report.files, kl.size(), threshold.threshold, learning::XmlEscape(threshold.method));
  if (json.contains("recall_at_k")) {
    html += StrFormat(" At K = %.2f: recall %.3f (random %.3f, oracle %.3f), AUC %.3f.", budget,
                      json["recall_at_k"].as_double(), json["random_recall_at_k"].as_double(),
                      json["oracle_recall_at_k"].as_double(), json["auc"].as_double());
  }
  html += "</p>\n<ul>\n";
  for (const auto& [file, caption] : charts) html += StrCat("<li><a href=\"", file, "\">", caption, "</a></li>\n");
  html += "</ul>\n";
  for (const auto& [file, caption] : charts) {
    html += StrCat("<figure><img src=\"", file, "\" alt=\"", caption, "\"><figcaption>", caption,
                   "</figcaption></figure>\n");
  }
  html += "</body></html>\n";
  contents["index.html"] = html;
  boost::json::array files;
  for (const auto& [file, text] : contents) {
    const std::string path = (std::filesystem::path(directory) / file).string();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!(out << text) || !out.flush()) return Fail(command, StrCat(path, ": cannot write"));
    files.emplace_back(path);
    std::printf("wrote %s\n", path.c_str());
  }
  json["files"] = files;
  json["warnings"] = report.warnings.size();
  PrintJson(json);
  return kExitOk;
}

}  // namespace quantclaw::tools
