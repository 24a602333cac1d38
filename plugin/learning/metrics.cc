#include "learning/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace quantclaw::learning {

double Auc(const std::vector<double>& scores, const std::vector<bool>& labels) {
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double positive_rank_sum = 0;
  size_t positives = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    const double mean_rank = 0.5 * static_cast<double>(i + 1 + j);  // ranks i+1 .. j
    for (size_t k = i; k < j; ++k) {
      if (labels[order[k]]) {
        positive_rank_sum += mean_rank;
        ++positives;
      }
    }
    i = j;
  }
  const size_t negatives = n - positives;
  if (positives == 0 || negatives == 0) return 0.5;
  const double p = static_cast<double>(positives);
  return (positive_rank_sum - p * (p + 1) / 2) / (p * static_cast<double>(negatives));
}

double BudgetThreshold(std::vector<double> scores, double budget) {
  if (scores.empty()) return 0;
  std::sort(scores.begin(), scores.end());
  const size_t n = scores.size();
  const size_t high = std::clamp<size_t>(static_cast<size_t>(std::ceil(budget * static_cast<double>(n) - 1e-9)), 1, n);
  return scores[n - high];
}

BudgetMetrics AtBudget(const std::vector<double>& scores, const std::vector<bool>& labels, double budget,
                       std::optional<double> threshold) {
  BudgetMetrics metrics;
  metrics.budget = budget;
  metrics.steps = scores.size();
  metrics.threshold = threshold ? *threshold : BudgetThreshold(scores, budget);
  size_t high = 0, caught = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    metrics.positives += labels[i];
    if (scores[i] >= metrics.threshold) {
      ++high;
      caught += labels[i];
    }
  }
  if (metrics.steps == 0) return metrics;
  const double positives = static_cast<double>(metrics.positives);
  metrics.realized_high_fraction = static_cast<double>(high) / static_cast<double>(metrics.steps);
  metrics.recall_at_k = positives > 0 ? static_cast<double>(caught) / positives : 0;
  metrics.random_recall_at_k = budget;
  const double slots = std::ceil(budget * static_cast<double>(metrics.steps) - 1e-9);
  metrics.oracle_recall_at_k = positives > 0 ? std::min(1.0, slots / positives) : 0;
  metrics.auc = Auc(scores, labels);
  return metrics;
}

}  // namespace quantclaw::learning
