// Trace records as a table the learning commands read: one row per step, its feature vector
// (quantclaw.step.v1), its KL when a shadow sample measured one, and what the commands group and split by.
#ifndef QUANTCLAW_PLUGIN_LEARNING_DATASET_H_
#define QUANTCLAW_PLUGIN_LEARNING_DATASET_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace quantclaw::learning {

struct StepTable {
  int feature_count = 0;
  std::vector<float> features;  // row-major, rows() x feature_count
  std::vector<double> kl;       // NaN where the record has none
  // The unit a held-out split keeps whole: the record's session_id, or for a record without one, its file
  // and a block of 64 neighbouring records (neighbours share context, so they must not straddle a split).
  std::vector<std::string> group;
  std::vector<std::string> task_type;
  std::vector<std::string> step_kind;

  size_t rows() const { return kl.size(); }
  const float* row(size_t i) const { return features.data() + i * static_cast<size_t>(feature_count); }
  // A table of the rows in `indices`, in that order.
  StepTable Subset(const std::vector<size_t>& indices) const;
};

struct LoadReport {
  int files = 0;
  uint64_t records = 0;          // whole records read
  uint64_t with_kl = 0;
  uint64_t skipped_features = 0;  // whole records whose features this layout cannot read
  std::vector<std::string> warnings;  // "FILE: offset N: reason", one per skipped region or record
};

// Called now and then with bytes read so far and in all; the commands draw their progress bar with it.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Reads every record of the trace files under `paths` (files or directories of *.qctrace). With
// `labelled_only`, rows without a KL are left out. A path that is missing or not a trace file of this
// format is an error naming it (and the offset); torn or damaged records are skipped with a warning.
absl::StatusOr<StepTable> LoadSteps(const std::vector<std::string>& paths, bool labelled_only,
                                    const ProgressFn& progress, LoadReport* report);

}  // namespace quantclaw::learning

#endif  // QUANTCLAW_PLUGIN_LEARNING_DATASET_H_
