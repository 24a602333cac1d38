// Trace files: quantclaw.v1.TraceRecord messages appended to files that survive a crash of the writer.
// Each record is whole or, when the writer died in it or the bytes were damaged, skipped by the reader
// with a warning naming the file and offset; the records after it still read.
//
// Layout (all integers little-endian):
//   file header   "QCTRACE" and one format-version byte ('1')
//   each record   u32 marker 0x52544351 ("QCTR")
//                 u32 payload length (at most kMaxTraceRecordBytes)
//                 u32 CRC-32C of the 4 length bytes      (a damaged length cannot send the reader astray)
//                 payload: the TraceRecord, protobuf binary
//                 u32 CRC-32C of the payload
// A record goes out in one write(2) on a file opened O_APPEND, so a killed writer leaves at most one torn
// record, at the end. The reader resynchronises on the next marker whose length checksum holds.
// Files rotate by size; each writer names its files by process id, start time and sequence, so several
// processes can share a directory.
#ifndef QUANTCLAW_PLUGIN_TELEMETRY_TRACE_FILE_H_
#define QUANTCLAW_PLUGIN_TELEMETRY_TRACE_FILE_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quantclaw {

namespace v1 {
class TraceRecord;
}

inline constexpr std::string_view kTraceFileHeader = "QCTRACE1";
inline constexpr std::string_view kTraceFileSuffix = ".qctrace";
inline constexpr uint32_t kMaxTraceRecordBytes = 16u << 20;

class TraceWriter {
 public:
  // Writes into `directory` (created if missing), starting a new file once one would pass
  // `max_file_bytes`.
  static absl::StatusOr<std::unique_ptr<TraceWriter>> Open(std::string directory, uint64_t max_file_bytes);
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // Appends one record. Thread-safe. When it returns OK the record is in the file (the kernel's page
  // cache: it survives the process, not the machine).
  absl::Status Append(const v1::TraceRecord& record);

  const std::string& current_path() const { return path_; }

 private:
  TraceWriter(std::string directory, uint64_t max_file_bytes);
  absl::Status Rotate();

  std::mutex mutex_;
  const std::string directory_;
  const uint64_t max_file_bytes_;
  std::string path_;
  int fd_ = -1;
  uint64_t file_bytes_ = 0;
  uint64_t sequence_ = 0;
  std::string frame_;  // reused between records
};

// Reads one trace file record by record.
class TraceReader {
 public:
  struct Warning {
    std::string path;
    uint64_t offset = 0;
    std::string reason;
  };

  // A file that cannot be read or is not a trace file of this format version is an error naming the
  // file and offset.
  static absl::StatusOr<TraceReader> Open(const std::string& path);
  // The same for a trace file's bytes already in memory; `path` only names it in messages and warnings.
  static absl::StatusOr<TraceReader> FromBytes(std::string path, std::string bytes);

  // The next whole record; false at the end of the file. Damaged records on the way are skipped and
  // reported in warnings().
  bool Next(v1::TraceRecord* record);

  const std::vector<Warning>& warnings() const { return warnings_; }
  const std::string& path() const { return path_; }
  // Where the record the last Next returned starts in the file, for messages about its contents.
  uint64_t record_offset() const { return record_offset_; }

 private:
  TraceReader(std::string path, std::string bytes) : path_(std::move(path)), bytes_(std::move(bytes)) {}
  // The offset of the next marker at or after `from` whose length checksum holds, or the end.
  size_t Resynchronise(size_t from) const;

  std::string path_;
  std::string bytes_;
  size_t offset_ = kTraceFileHeader.size();
  size_t record_offset_ = 0;
  std::vector<Warning> warnings_;
};

// The trace files in `directory` (or `path` itself when it is a file), in the order they were written.
absl::StatusOr<std::vector<std::string>> ListTraceFiles(const std::string& path);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_TELEMETRY_TRACE_FILE_H_
