// quantclaw_trace_labels: the shadow labels in trace files, one line per record, for scripts that check a
// collection (tests/learn/compare_labels.py; cmake/quantclaw-dev.sh learn).
//
//   quantclaw_trace_labels TRACES...      (a trace file or a directory of them)
//
// stdout: a header line, then per record, tab-separated:
//   session_id  step_index  kl_divergence  needs_high_precision  scored_tokens  low_tier  served_tier  step_kind
// (kl_divergence "-" when the record has none). The library's own reader reads the files, so a damaged
// record is skipped with its warning (file and offset) on stderr, as `quantclaw train` will see it.
// Exit 0, or 1 when a path is not a readable trace file (the error names it), 2 on usage.
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "telemetry/trace_file.h"
#include "quantclaw/v1/trace.pb.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s TRACES...  (trace files or directories of them)\n", argv[0]);
    return 2;
  }
  std::printf("session_id\tstep_index\tkl_divergence\tneeds_high_precision\tscored_tokens\tlow_tier\tserved_tier\tstep_kind\n");
  int exit_code = 0;
  for (int i = 1; i < argc; ++i) {
    absl::StatusOr<std::vector<std::string>> files = quantclaw::ListTraceFiles(argv[i]);
    if (!files.ok()) {
      std::fprintf(stderr, "quantclaw_trace_labels: %s\n", std::string(files.status().message()).c_str());
      exit_code = 1;
      continue;
    }
    for (const std::string& path : *files) {
      absl::StatusOr<quantclaw::TraceReader> reader = quantclaw::TraceReader::Open(path);
      if (!reader.ok()) {
        std::fprintf(stderr, "quantclaw_trace_labels: %s\n", std::string(reader.status().message()).c_str());
        exit_code = 1;
        continue;
      }
      quantclaw::v1::TraceRecord record;
      while (reader->Next(&record)) {
        char kl[32] = "-";
        if (record.has_kl_divergence()) std::snprintf(kl, sizeof(kl), "%.9g", record.kl_divergence());
        std::printf("%s\t%" PRIu64 "\t%s\t%s\t%u\t%s\t%s\t%s\n", record.session_id().c_str(), record.step_index(), kl,
                    record.has_needs_high_precision() ? (record.needs_high_precision() ? "1" : "0") : "-",
                    record.scored_tokens(), record.low_tier().c_str(), record.outcome().tier_name().c_str(),
                    record.features().step_kind().c_str());
      }
      for (const quantclaw::TraceReader::Warning& warning : reader->warnings()) {
        std::fprintf(stderr, "quantclaw_trace_labels: warning: %s at offset %" PRIu64 ": %s\n", warning.path.c_str(),
                     warning.offset, warning.reason.c_str());
      }
    }
  }
  return exit_code;
}
