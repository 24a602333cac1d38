#include "policy/budget.h"

#include <algorithm>
#include <cmath>

namespace quantclaw {
namespace {

int BinOf(double score) {
  if (!(score > 0)) return 0;  // also NaN
  if (score >= 1) return BudgetQuantile::kBins - 1;
  return std::min(BudgetQuantile::kBins - 1, static_cast<int>(score * BudgetQuantile::kBins));
}

}  // namespace

BudgetQuantile::BudgetQuantile(uint32_t window)
    : window_(std::max<uint32_t>(window, 1)), ring_(new std::atomic<uint16_t>[window_]) {
  for (uint32_t i = 0; i < window_; ++i) ring_[i].store(0, std::memory_order_relaxed);
}

void BudgetQuantile::Add(int bin, int32_t delta) {
  for (int i = bin + 1; i <= kBins; i += i & -i) tree_[i].fetch_add(delta, std::memory_order_relaxed);
}

int64_t BudgetQuantile::Prefix(int bin) const {
  int64_t sum = 0;
  for (int i = bin + 1; i > 0; i -= i & -i) sum += tree_[i].load(std::memory_order_relaxed);
  return sum;
}

void BudgetQuantile::Record(double score) {
  int bin = BinOf(score);
  uint64_t slot = next_.fetch_add(1, std::memory_order_relaxed) % window_;
  uint16_t previous = ring_[slot].exchange(static_cast<uint16_t>(bin + 1), std::memory_order_relaxed);
  Add(bin, 1);
  if (previous != 0) Add(previous - 1, -1);
}

bool BudgetQuantile::Split(double high_fraction, uint32_t warmup, Cut* cut) const {
  uint64_t count = std::min<uint64_t>(next_.load(std::memory_order_relaxed), window_);
  if (count < warmup || count == 0) return false;
  // The number of scores that should stay low; the bin where the cumulative count reaches it holds
  // the split.
  auto keep_low = static_cast<int64_t>(std::ceil((1.0 - high_fraction) * double(count)));
  if (keep_low <= 0) {
    *cut = Cut{-1, -1, 1};  // everything goes high
    return true;
  }
  // Fenwick descent: the largest position whose prefix sum is below keep_low.
  int position = 0;
  int64_t remaining = keep_low;
  for (int step = kBins; step > 0; step >>= 1) {
    int next = position + step;
    if (next <= kBins) {
      int64_t value = tree_[next].load(std::memory_order_relaxed);
      if (value < remaining) {
        position = next;
        remaining -= value;
      }
    }
  }
  int bin = std::min(position, kBins - 1);
  int64_t in_bin = Prefix(bin) - (bin > 0 ? Prefix(bin - 1) : 0);
  cut->bin_bottom = double(bin) / kBins;
  cut->bin_top = bin + 1 >= kBins ? 1.0 : double(bin + 1) / kBins;
  // Of the scores in the split bin, `remaining` stay low and the rest go high.
  cut->tie_high_fraction = in_bin > 0 ? std::clamp(double(in_bin - remaining) / double(in_bin), 0.0, 1.0) : 0.0;
  return true;
}

bool BudgetQuantile::Threshold(double high_fraction, uint32_t warmup, double* threshold) const {
  Cut cut;
  if (!Split(high_fraction, warmup, &cut)) return false;
  *threshold = cut.bin_top;
  return true;
}

size_t BudgetConfig::GroupOf(std::string_view key) const {
  if (per == BudgetPer::kAll || key.empty()) return 0;
  for (size_t i = 0; i < groups.size(); ++i) {
    if (groups[i].key == key) return i + 1;
  }
  return 0;
}

BudgetHistories::BudgetHistories(const BudgetConfig& config, const BudgetHistories* previous)
    : per_(config.per), window_(config.window) {
  keys_.emplace_back();
  for (const BudgetGroup& group : config.groups) keys_.push_back(group.key);
  const bool carries = previous != nullptr && previous->per_ == per_ && previous->window_ == window_;
  for (const std::string& key : keys_) {
    std::shared_ptr<BudgetQuantile> history;
    if (carries) {
      for (size_t j = 0; j < previous->keys_.size(); ++j) {
        if (previous->keys_[j] == key) history = previous->groups_[j];
      }
    }
    groups_.push_back(history != nullptr ? std::move(history) : std::make_shared<BudgetQuantile>(window_));
  }
}

}  // namespace quantclaw
