// How well scores pick the steps that need high precision, at a budget K (the share of steps sent high).
#ifndef QUANTCLAW_PLUGIN_LEARNING_METRICS_H_
#define QUANTCLAW_PLUGIN_LEARNING_METRICS_H_

#include <optional>
#include <vector>

namespace quantclaw::learning {

// Area under the ROC curve (Mann-Whitney, ties counted half). 0.5 when one class is absent.
double Auc(const std::vector<double>& scores, const std::vector<bool>& labels);

// DMR eq. 7: the score at or above which a share `budget` of these scores lies: the (1 - K) quantile,
// taken as the order statistic so that exactly ceil(K n) distinct scores pass (ties at it pass too).
double BudgetThreshold(std::vector<double> scores, double budget);

struct BudgetMetrics {
  double budget = 0;
  double threshold = 0;           // score at or above which a step goes high
  double recall_at_k = 0;         // positives sent high / positives
  double random_recall_at_k = 0;  // a router blind to the step: K, in expectation (not simulated)
  double oracle_recall_at_k = 0;  // sending the positives first: min(1, slots / positives)
  double realized_high_fraction = 0;
  double auc = 0;
  size_t steps = 0, positives = 0;
};

// With `threshold` unset, the scores' own (1 - K) quantile.
BudgetMetrics AtBudget(const std::vector<double>& scores, const std::vector<bool>& labels, double budget,
                       std::optional<double> threshold = std::nullopt);

}  // namespace quantclaw::learning

#endif  // QUANTCLAW_PLUGIN_LEARNING_METRICS_H_
