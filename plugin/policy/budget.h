// Holds a budget K: the fraction of scored steps that should go to the top tier. The threshold is the
// (1 - K) quantile of the recent scores (DMR eq. 7), kept online over a sliding window so that it
// follows drift in the score distribution at deployment.
#ifndef QUANTCLAW_PLUGIN_POLICY_BUDGET_H_
#define QUANTCLAW_PLUGIN_POLICY_BUDGET_H_

#include <atomic>
#include <cstdint>
#include <memory>

namespace quantclaw {

// Lock-free: scores land in 1024 bins counted by a Fenwick tree of atomics, and a ring of the last
// `window` bins lets the oldest score leave as a new one arrives. Record and Threshold are
// O(log bins) whatever the window, so many threads can decide concurrently without a lock. Concurrent
// updates may make one read see a count off by a few in flight, which a quantile estimate tolerates.
class BudgetQuantile {
 public:
  static constexpr int kBins = 1024;

  explicit BudgetQuantile(uint32_t window);

  void Record(double score);
  // The score above which a step goes high so that about `high_fraction` of recent scores do;
  // returns false until `warmup` scores were recorded.
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

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_BUDGET_H_
