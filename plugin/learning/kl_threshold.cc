#include "learning/kl_threshold.h"

#include <algorithm>
#include <cmath>

namespace quantclaw::learning {
namespace {

double Log10Kl(double kl) { return std::log10(std::max(kl, kKlFloor)); }

double SortedQuantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double at = q * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(at));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  return sorted[below] + (at - static_cast<double>(below)) * (sorted[above] - sorted[below]);
}

}  // namespace

KlHistogram LogKlHistogram(const std::vector<double>& kl, int bins) {
  KlHistogram histogram;
  histogram.counts.assign(bins, 0);
  histogram.smoothed.assign(bins, 0.0);
  if (kl.empty()) return histogram;
  std::vector<double> logs;
  logs.reserve(kl.size());
  for (double value : kl) logs.push_back(Log10Kl(value));
  std::sort(logs.begin(), logs.end());
  // The extreme half percent either side would stretch the axis and squeeze both modes into few bins.
  double low = SortedQuantile(logs, 0.005), high = SortedQuantile(logs, 0.995);
  if (high - low < 1e-6) {
    low -= 0.5;
    high += 0.5;
  }
  histogram.log10_min = low;
  histogram.bin_width = (high - low) / bins;
  for (double value : logs) {
    const int bin = static_cast<int>(std::floor((value - low) / histogram.bin_width));
    ++histogram.counts[std::clamp(bin, 0, bins - 1)];
  }
  constexpr double kSigma = 1.5;
  for (int i = 0; i < bins; ++i) {
    double sum = 0, weights = 0;
    for (int j = std::max(0, i - 5); j <= std::min(bins - 1, i + 5); ++j) {
      const double weight = std::exp(-0.5 * (i - j) * (i - j) / (kSigma * kSigma));
      sum += weight * histogram.counts[j];
      weights += weight;
    }
    histogram.smoothed[i] = sum / weights;
  }
  return histogram;
}

KlThreshold FindKlThreshold(const std::vector<double>& kl, double fallback_quantile) {
  KlThreshold result;
  result.histogram = LogKlHistogram(kl);
  const std::vector<double>& density = result.histogram.smoothed;
  const int bins = static_cast<int>(density.size());
  auto center = [&](double bin) { return result.histogram.log10_min + (bin + 0.5) * result.histogram.bin_width; };

  std::vector<int> peaks;
  for (int i = 0; i < bins; ++i) {
    const double left = i > 0 ? density[i - 1] : -1, right = i + 1 < bins ? density[i + 1] : -1;
    if (density[i] > 0 && density[i] > left && density[i] >= right) peaks.push_back(i);
  }
  int best_low = -1, best_high = -1, best_valley = -1;
  double best_smaller_peak = 0;
  for (size_t a = 0; a < peaks.size(); ++a) {
    for (size_t b = a + 1; b < peaks.size(); ++b) {
      const int low = peaks[a], high = peaks[b];
      const double smaller = std::min(density[low], density[high]);
      int valley = low;
      for (int i = low; i <= high; ++i) {
        if (density[i] < density[valley]) valley = i;
      }
      if (density[valley] < 0.5 * smaller && smaller > best_smaller_peak) {
        best_smaller_peak = smaller;
        best_low = low;
        best_high = high;
        best_valley = valley;
      }
    }
  }
  if (best_valley >= 0) {
    const double floor = density[best_valley];
    const double sparse = floor + 0.1 * (best_smaller_peak - floor);
    int from = best_valley, to = best_valley;
    while (from - 1 > best_low && density[from - 1] <= sparse) --from;
    while (to + 1 < best_high && density[to + 1] <= sparse) ++to;
    result.method = "valley";
    result.low_mode_log10 = center(best_low);
    result.high_mode_log10 = center(best_high);
    result.valley_from_log10 = center(from) - 0.5 * result.histogram.bin_width;
    result.valley_to_log10 = center(to) + 0.5 * result.histogram.bin_width;
    result.threshold = std::pow(10.0, 0.5 * (result.valley_from_log10 + result.valley_to_log10));
    return result;
  }
  std::vector<double> sorted(kl);
  std::sort(sorted.begin(), sorted.end());
  result.method = "quantile";
  result.threshold = SortedQuantile(sorted, fallback_quantile);
  return result;
}

}  // namespace quantclaw::learning
