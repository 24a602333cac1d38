#include "learning/dataset.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "absl/strings/str_cat.h"
#include "features/feature_vector.h"
#include "quantclaw/v1/trace.pb.h"
#include "telemetry/trace_file.h"

namespace quantclaw::learning {

using absl::StrCat;

StepTable StepTable::Subset(const std::vector<size_t>& indices) const {
  StepTable subset;
  subset.feature_count = feature_count;
  subset.features.reserve(indices.size() * feature_count);
  for (size_t i : indices) {
    subset.features.insert(subset.features.end(), row(i), row(i) + feature_count);
    subset.kl.push_back(kl[i]);
    subset.group.push_back(group[i]);
    subset.task_type.push_back(task_type[i]);
    subset.step_kind.push_back(step_kind[i]);
  }
  return subset;
}

absl::StatusOr<StepTable> LoadSteps(const std::vector<std::string>& paths, bool labelled_only,
                                    const ProgressFn& progress, LoadReport* report) {
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    absl::StatusOr<std::vector<std::string>> listed = ListTraceFiles(path);
    if (!listed.ok()) return listed.status();
    if (listed->empty()) return absl::NotFoundError(StrCat(path, ": no ", std::string(kTraceFileSuffix), " files in this directory"));
    files.insert(files.end(), listed->begin(), listed->end());
  }
  uint64_t total_bytes = 0;
  for (const std::string& file : files) {
    std::error_code ec;
    total_bytes += std::filesystem::file_size(file, ec);
  }

  StepTable table;
  table.feature_count = kStepFeaturesV1Size;
  std::vector<float> vector(kStepFeaturesV1Size);
  uint64_t done_bytes = 0;
  v1::TraceRecord record;
  for (const std::string& file : files) {
    absl::StatusOr<TraceReader> reader = TraceReader::Open(file);
    if (!reader.ok()) return reader.status();
    ++report->files;
    uint64_t index = 0;
    while (reader->Next(&record)) {
      const uint64_t record_index = index++;
      ++report->records;
      // The framing around each record is 16 bytes; exact enough for a progress bar.
      done_bytes += record.ByteSizeLong() + 16;
      if (progress && record_index % 256 == 0) progress(done_bytes, total_bytes);
      if (record.has_kl_divergence()) ++report->with_kl;
      if (labelled_only && !record.has_kl_divergence()) continue;
      std::string error;
      if (!StepFeatureVector(record.features(), vector.data(), &error)) {
        ++report->skipped_features;
        report->warnings.push_back(
            StrCat(file, ": offset ", reader->record_offset(), " (record ", record_index, "): ", error, "; skipped"));
        continue;
      }
      table.features.insert(table.features.end(), vector.begin(), vector.end());
      const double kl = record.has_kl_divergence() ? record.kl_divergence() : std::numeric_limits<double>::quiet_NaN();
      // A top-k estimate can come out slightly negative (noise) or overflow; neither is a new kind of step.
      table.kl.push_back(std::isnan(kl) ? kl : std::clamp(kl, 0.0, 1e6));
      table.group.push_back(record.session_id().empty() ? StrCat(file, "#", record_index / 64)
                                                        : record.session_id());
      table.task_type.push_back(record.features().task_type());
      table.step_kind.push_back(record.features().step_kind());
    }
    for (const TraceReader::Warning& warning : reader->warnings()) {
      report->warnings.push_back(StrCat(warning.path, ": offset ", warning.offset, ": ", warning.reason));
    }
  }
  if (progress) progress(total_bytes, total_bytes);
  return table;
}

}  // namespace quantclaw::learning
