#include "telemetry/trace_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "quantclaw/v1/trace.pb.h"
#include "util/crc32c.h"
#include "util/strings.h"

namespace quantclaw {
namespace {

constexpr uint32_t kMarker = 0x52544351u;  // "QCTR" as bytes
constexpr size_t kRecordHeaderBytes = 12;   // marker, length, length checksum
constexpr size_t kRecordTrailerBytes = 4;   // payload checksum
constexpr uint64_t kMaxTraceFileBytes = uint64_t(1) << 30;

void PutU32(uint32_t value, std::string* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

uint32_t GetU32(std::string_view bytes, size_t at) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

std::string LengthBytes(uint32_t length) {
  std::string bytes;
  PutU32(length, &bytes);
  return bytes;
}

absl::Status ErrnoError(std::string_view what, const std::string& path) {
  return absl::UnavailableError(StrCat(what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

TraceWriter::TraceWriter(std::string directory, uint64_t max_file_bytes)
    : directory_(std::move(directory)), max_file_bytes_(max_file_bytes) {}

TraceWriter::~TraceWriter() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::unique_ptr<TraceWriter>> TraceWriter::Open(std::string directory, uint64_t max_file_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return absl::UnavailableError(StrCat("trace directory ", directory, ": ", ec.message()));
  std::unique_ptr<TraceWriter> writer(new TraceWriter(std::move(directory), std::max<uint64_t>(max_file_bytes, 4096)));
  std::lock_guard<std::mutex> lock(writer->mutex_);
  if (absl::Status status = writer->Rotate(); !status.ok()) return status;
  return writer;
}

absl::Status TraceWriter::Rotate() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  const auto unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  char name[96];
  // Zero-padded so that names sort in the order they were written.
  std::snprintf(name, sizeof(name), "quantclaw-%013lld-%d-%06llu", static_cast<long long>(unix_ms),
                static_cast<int>(::getpid()), static_cast<unsigned long long>(sequence_++));
  path_ = StrCat(directory_, "/", name, kTraceFileSuffix);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) return ErrnoError("cannot create trace file", path_);
  file_bytes_ = 0;
  return absl::OkStatus();  // the header goes out with the first record, in the same write
}

absl::Status TraceWriter::Append(const v1::TraceRecord& record) {
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t payload = record.ByteSizeLong();
  if (payload > kMaxTraceRecordBytes) {
    return absl::InvalidArgumentError(StrCat("trace record of ", payload, " bytes, over ", kMaxTraceRecordBytes));
  }
  const uint64_t record_bytes = kRecordHeaderBytes + payload + kRecordTrailerBytes;
  if (file_bytes_ > 0 && file_bytes_ + record_bytes > max_file_bytes_) {
    if (absl::Status status = Rotate(); !status.ok()) return status;
  }
  // A new file's header goes out in the same write as its first record.
  frame_.assign(file_bytes_ == 0 ? kTraceFileHeader : std::string_view());
  const uint32_t length = static_cast<uint32_t>(payload);
  PutU32(kMarker, &frame_);
  PutU32(length, &frame_);
  PutU32(Crc32c(LengthBytes(length)), &frame_);
  const size_t payload_at = frame_.size();
  frame_.resize(payload_at + payload);
  record.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(frame_.data() + payload_at));
  PutU32(Crc32c(std::string_view(frame_).substr(payload_at, payload)), &frame_);
  // One write for the whole record: a writer killed now leaves this record torn at the end, never a
  // torn record between whole ones.
  size_t written = 0;
  while (written < frame_.size()) {
    const ssize_t n = ::write(fd_, frame_.data() + written, frame_.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // The torn tail is skipped by the reader; later records go to a new file.
      absl::Status status = ErrnoError("cannot write trace file", path_);
      file_bytes_ += written;
      if (file_bytes_ > 0) Rotate().IgnoreError();
      return status;
    }
    written += static_cast<size_t>(n);
  }
  file_bytes_ += written;
  return absl::OkStatus();
}

absl::StatusOr<TraceReader> TraceReader::Open(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return absl::NotFoundError(StrCat(path, ": ", ec.message()));
  if (size > kMaxTraceFileBytes) {
    return absl::InvalidArgumentError(StrCat(path, ": ", size, " bytes, over the ", kMaxTraceFileBytes,
                                             " a trace file may hold"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat(path, ": cannot open"));
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<uintmax_t>(in.gcount()) != size) return absl::DataLossError(StrCat(path, ": short read"));
  return FromBytes(path, std::move(bytes));
}

absl::StatusOr<TraceReader> TraceReader::FromBytes(std::string path, std::string bytes) {
  if (bytes.size() > kMaxTraceFileBytes) {
    return absl::InvalidArgumentError(StrCat(path, ": ", bytes.size(), " bytes, over the ", kMaxTraceFileBytes,
                                             " a trace file may hold"));
  }
  const std::string_view magic = kTraceFileHeader.substr(0, kTraceFileHeader.size() - 1);
  if (bytes.size() < kTraceFileHeader.size() && kTraceFileHeader.substr(0, bytes.size()) == bytes) {
    // A writer that stopped before its first record finished: an empty trace.
    TraceReader empty(path, std::string(kTraceFileHeader));
    if (!bytes.empty()) empty.warnings_.push_back({path, 0, "truncated file header (a writer stopped mid-record)"});
    return empty;
  }
  if (bytes.size() < kTraceFileHeader.size() || std::string_view(bytes).substr(0, magic.size()) != magic) {
    return absl::InvalidArgumentError(StrCat(path, ": offset 0: not a quantclaw trace file"));
  }
  if (bytes[magic.size()] != kTraceFileHeader.back()) {
    // The version byte as written when printable, else as its value: the message must stay text.
    const unsigned char version = static_cast<unsigned char>(bytes[magic.size()]);
    char shown[8];
    std::snprintf(shown, sizeof(shown), version >= 0x20 && version < 0x7F ? "'%c'" : "0x%02X", version);
    return absl::InvalidArgumentError(StrCat(path, ": offset ", magic.size(), ": trace format version ", shown,
                                             ", this build reads '", std::string(1, kTraceFileHeader.back()), "'"));
  }
  return TraceReader(std::move(path), std::move(bytes));
}

size_t TraceReader::Resynchronise(size_t from) const {
  const std::string_view bytes(bytes_);
  for (size_t at = from; at + kRecordHeaderBytes <= bytes.size(); ++at) {
    if (GetU32(bytes, at) == kMarker && Crc32c(bytes.substr(at + 4, 4)) == GetU32(bytes, at + 8)) return at;
  }
  return bytes.size();
}

bool TraceReader::Next(v1::TraceRecord* record) {
  const std::string_view bytes(bytes_);
  while (offset_ < bytes.size()) {
    const size_t at = offset_;
    if (bytes.size() - at < kRecordHeaderBytes) {
      warnings_.push_back({path_, at, "truncated record header (a writer stopped mid-record)"});
      offset_ = bytes.size();
      return false;
    }
    const uint32_t length = GetU32(bytes, at + 4);
    if (GetU32(bytes, at) != kMarker || Crc32c(bytes.substr(at + 4, 4)) != GetU32(bytes, at + 8) ||
        length > kMaxTraceRecordBytes) {
      offset_ = Resynchronise(at + 1);
      warnings_.push_back({path_, at, StrCat("damaged record header; skipped ", offset_ - at, " bytes")});
      continue;
    }
    const size_t end = at + kRecordHeaderBytes + length + kRecordTrailerBytes;
    if (end > bytes.size()) {
      // A torn last record, or a damaged region that happens to pass the header check: either way,
      // whatever whole records follow are found by resynchronising.
      offset_ = Resynchronise(at + 1);
      warnings_.push_back({path_, at, offset_ == bytes.size()
                                          ? std::string("truncated record (a writer stopped mid-record)")
                                          : StrCat("record overruns the next one; skipped ", offset_ - at, " bytes")});
      continue;
    }
    const std::string_view payload = bytes.substr(at + kRecordHeaderBytes, length);
    if (Crc32c(payload) != GetU32(bytes, at + kRecordHeaderBytes + length)) {
      offset_ = Resynchronise(at + 1);
      warnings_.push_back({path_, at, "record checksum mismatch; skipped"});
      continue;
    }
    offset_ = end;
    record->Clear();
    if (!record->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      warnings_.push_back({path_, at, "record is not a quantclaw.v1.TraceRecord; skipped"});
      continue;
    }
    record_offset_ = at;
    return true;
  }
  return false;
}

absl::StatusOr<std::vector<std::string>> ListTraceFiles(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return std::vector<std::string>{path};
  if (!std::filesystem::is_directory(path, ec)) return absl::NotFoundError(StrCat(path, ": no such file or directory"));
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == kTraceFileSuffix) files.push_back(entry.path().string());
  }
  if (ec) return absl::UnavailableError(StrCat(path, ": ", ec.message()));
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace quantclaw
