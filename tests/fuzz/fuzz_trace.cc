// Fuzz target for the trace reader (telemetry/trace_file.h): arbitrary bytes as a trace file. The
// property: no crash; a refused file is an error that names it; every record returned is a TraceRecord
// that serializes and parses back to itself; every warning names the file and an offset inside the
// input, the offsets increasing (the reader always moves on); the end stays the end.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "quantclaw/v1/trace.pb.h"
#include "telemetry/trace_file.h"

namespace {

void Fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 20) return 0;
  const std::string name = "fuzz.qctrace";
  auto reader = quantclaw::TraceReader::FromBytes(name, std::string(reinterpret_cast<const char*>(data), size));
  if (!reader.ok()) {
    if (reader.status().message().find(name) == std::string_view::npos) {
      Fail("an error that does not name the file: " + reader.status().ToString());
    }
    return 0;
  }
  quantclaw::v1::TraceRecord record;
  size_t records = 0;
  while (reader->Next(&record)) {
    // Each record holds at least its 16 bytes of framing.
    if (++records > size / 16) Fail("more records than the input can hold");
    std::string bytes;
    if (!record.SerializeToString(&bytes)) Fail("a record that does not serialize");
    quantclaw::v1::TraceRecord again;
    if (!again.ParseFromString(bytes) || again.SerializeAsString() != bytes) Fail("a record that does not read back");
  }
  if (reader->Next(&record)) Fail("a record after the end");
  const auto& warnings = reader->warnings();
  for (size_t i = 0; i < warnings.size(); ++i) {
    const quantclaw::TraceReader::Warning& warning = warnings[i];
    if (warning.path != name || warning.reason.empty()) Fail("a warning without the file or a reason");
    if (warning.offset >= size) {
      Fail("a warning at offset " + std::to_string(warning.offset) + " of " + std::to_string(size) + " bytes");
    }
    if (i > 0 && warning.offset <= warnings[i - 1].offset) Fail("warning offsets that do not increase");
  }
  return 0;
}
