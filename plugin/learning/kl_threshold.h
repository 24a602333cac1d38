// The KL label threshold (DMR 4.2 and 5.5): steps whose KL(reference || low) is above it are labelled
// "needs high precision". The per-step KL is bimodal on a log scale (a dense low-divergence mass, a
// smaller high-divergence mode); a threshold in the sparse valley between them labels robustly, since
// few steps sit near it and small KL fluctuations flip few labels. A threshold inside a dense region does
// the opposite (DMR Fig. 5), so when no valley exists we say so and fall back to a quantile.
//
// Method: histogram of log10(max(KL, 1e-9)) over the 0.5-99.5 percentile range, 40 bins, smoothed with a
// Gaussian of 1.5 bins. Modes are local maxima of the smoothed density; the two main modes are the pair
// with the largest smaller peak whose valley between them falls below half that smaller peak (a real
// dip, not a ripple). The threshold is the middle of the valley's sparse plateau: the run of bins around
// the valley minimum whose density is within 10% of the way from the minimum up to the smaller peak.
// Without such a pair the sample is unimodal and the threshold is the `fallback_quantile` of the KL.
#ifndef QUANTCLAW_PLUGIN_LEARNING_KL_THRESHOLD_H_
#define QUANTCLAW_PLUGIN_LEARNING_KL_THRESHOLD_H_

#include <string>
#include <vector>

namespace quantclaw::learning {

inline constexpr double kKlFloor = 1e-9;  // KL below this is "no difference" (log10 -9)

struct KlHistogram {
  double log10_min = 0;
  double bin_width = 1;
  std::vector<int> counts;
  std::vector<double> smoothed;  // the same, smoothed; in counts per bin
};

struct KlThreshold {
  double threshold = 0;
  std::string method;  // "valley", "quantile" (unimodal) or "given"
  double low_mode_log10 = 0, high_mode_log10 = 0;  // valley only: where the two modes peak
  double valley_from_log10 = 0, valley_to_log10 = 0;  // valley only: the sparse plateau
  KlHistogram histogram;
};

KlHistogram LogKlHistogram(const std::vector<double>& kl, int bins = 40);
// `kl` holds labelled values only (no NaN). Empty input gives threshold 0, method "quantile".
KlThreshold FindKlThreshold(const std::vector<double>& kl, double fallback_quantile);

}  // namespace quantclaw::learning

#endif  // QUANTCLAW_PLUGIN_LEARNING_KL_THRESHOLD_H_
