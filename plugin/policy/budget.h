// Holds a budget K: the fraction of scored steps that should go to the top tier. The threshold is the
// (1 - K) quantile of the recent scores (DMR eq. 7), kept online over a sliding window so that it
// follows drift in the score distribution at deployment.
#ifndef QUANTCLAW_PLUGIN_POLICY_BUDGET_H_
#define QUANTCLAW_PLUGIN_POLICY_BUDGET_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace quantclaw {

// Lock-free: scores land in 1024 bins counted by a Fenwick tree of atomics, and a ring of the last
// `window` bins lets the oldest score leave as a new one arrives. Record and Threshold are
// O(log bins) whatever the window, so many threads can decide concurrently without a lock. Concurrent
// updates may make one read see a count off by a few in flight, which a quantile estimate tolerates.
class BudgetQuantile {
 public:
  static constexpr int kBins = 1024;

  explicit BudgetQuantile(uint32_t window);

  // Where the recent scores split so that `high_fraction` of them lie above. Scores from rules are
  // discrete and tie often, so the split may fall inside one bin: scores above `bin_top` go high,
  // scores in [bin_bottom, bin_top] go high with probability `tie_high_fraction`, the rest stay low.
  struct Cut {
    double bin_bottom = 0;
    double bin_top = 0;
    double tie_high_fraction = 0;
    bool GoesHigh(double score, double tie_draw) const {
      return score > bin_top || (score >= bin_bottom && tie_draw < tie_high_fraction);
    }
  };

  void Record(double score);
  // False until `warmup` scores were recorded.
  bool Split(double high_fraction, uint32_t warmup, Cut* cut) const;
  // The bin's top edge of the split: the threshold in the sense of DMR eq. 7.
  bool Threshold(double high_fraction, uint32_t warmup, double* threshold) const;
  uint32_t window() const { return window_; }
  uint64_t recorded() const { return next_.load(std::memory_order_relaxed); }

 private:
  void Add(int bin, int32_t delta);
  int64_t Prefix(int bin) const;  // count of scores in bins [0, bin]

  const uint32_t window_;
  std::atomic<uint64_t> next_{0};
  std::unique_ptr<std::atomic<uint16_t>[]> ring_;  // bin + 1 per slot; 0 = empty
  std::atomic<int32_t> tree_[kBins + 1] = {};
};

// What a budget's groups are keyed by: one group for every scored step, or a group per declared task type
// or step kind, each holding its own K over its own recent scores.
enum class BudgetPer : uint8_t { kAll, kTaskType, kStepKind };

struct BudgetGroup {
  std::string key;
  double high_fraction = 0;
};

struct BudgetConfig {
  // The most keys one budget may declare: every key costs a history, and a key comes from the config,
  // never from whatever string a host sends.
  static constexpr size_t kMaxKeys = 32;

  double high_fraction = 0.5;  // K: the fraction of scored steps that should reach the top tier
  uint32_t window = 1000;      // recent scores the quantile is taken over (per group)
  uint32_t warmup = 20;        // scores needed before the quantile replaces the fixed threshold (per group)
  BudgetPer per = BudgetPer::kAll;
  // Keys with a K of their own; the steps of every other key (and of none) share group 0 and
  // `high_fraction`.
  std::vector<BudgetGroup> groups;

  // 0 for the shared group, 1 + i for groups[i]. Allocation-free: it runs on every step.
  size_t GroupOf(std::string_view key) const;
  double HighFractionOf(size_t group) const { return group == 0 ? high_fraction : groups[group - 1].high_fraction; }
  std::string_view KeyOf(size_t group) const { return group == 0 ? std::string_view() : groups[group - 1].key; }
};

// The score histories of one config's budget, one per group, indexed as BudgetConfig::GroupOf. A reload
// keeps a group's history when the new config has the same group (same `per`, same key) over the same
// window: the history is shared, not copied.
class BudgetHistories {
 public:
  explicit BudgetHistories(const BudgetConfig& config, const BudgetHistories* previous = nullptr);

  BudgetQuantile& group(size_t index) const { return *groups_[index]; }
  size_t size() const { return groups_.size(); }

 private:
  BudgetPer per_;
  uint32_t window_;
  std::vector<std::string> keys_;  // keys_[0] is empty: the shared group
  std::vector<std::shared_ptr<BudgetQuantile>> groups_;
};

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_BUDGET_H_
