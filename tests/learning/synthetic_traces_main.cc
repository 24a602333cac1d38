// Writes synthetic trace files (synthetic_traces.h) for the command-line tests.
//   quantclaw_synthetic_traces DIR [--sessions N] [--steps M] [--seed S] [--unlabelled] [--torn] [--corrupt]
//                              [--foreign-model PATH] [--foreign-trace PATH]
// --torn cuts the last record of the file in half, as a writer killed mid-record leaves it; --corrupt
// flips one byte in the middle of the file (a damaged record, followed by whole ones).
// --foreign-model writes a LearnedModel with format_version 2; --foreign-trace a trace file of version '9'.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "learning/model_file.h"
#include "quantclaw/v1/learned_model.pb.h"
#include "synthetic_traces.h"
#include "telemetry/trace_file.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [--sessions N] [--steps M] [--seed S] [--unlabelled] [--torn]\n", argv[0]);
    return 2;
  }
  std::string directory = argv[1];
  int sessions = 60, steps = 40;
  uint64_t seed = 1;
  bool torn = false, corrupt = false;
  quantclaw::testing::SyntheticOptions options;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : "";
    if (arg == "--sessions") sessions = std::atoi(next), ++i;
    else if (arg == "--steps") steps = std::atoi(next), ++i;
    else if (arg == "--seed") seed = std::strtoull(next, nullptr, 10), ++i;
    else if (arg == "--unlabelled") options.labelled_share = 0;
    else if (arg == "--torn") torn = true;
    else if (arg == "--corrupt") corrupt = true;
    else if (arg == "--foreign-model") {
      quantclaw::v1::LearnedModel model;
      model.set_format_version(2);
      model.set_feature_set("quantclaw.step.v1");
      std::ofstream out(next, std::ios::binary);
      out << quantclaw::learning::SerializeModelFile(model);
      return 0;
    } else if (arg == "--foreign-trace") {
      std::ofstream out(next, std::ios::binary);
      out << "QCTRACE9" << std::string(40, '\0');
      return 0;
    } else {
      std::fprintf(stderr, "unknown option %s\n", arg.c_str());
      return 2;
    }
  }
  auto writer = quantclaw::TraceWriter::Open(directory, 64ull << 20);
  if (!writer.ok()) {
    std::fprintf(stderr, "%s\n", std::string(writer.status().message()).c_str());
    return 1;
  }
  quantclaw::testing::SyntheticRandom random(seed);
  uintmax_t before_last = 0;
  for (int s = 0; s < sessions; ++s) {
    const std::string session = "session-" + std::to_string(seed) + "-" + std::to_string(s);
    for (int step = 0; step < steps; ++step) {
      std::error_code ec;
      if (std::filesystem::exists((*writer)->current_path(), ec)) {
        before_last = std::filesystem::file_size((*writer)->current_path(), ec);
      }
      if (auto status = (*writer)->Append(quantclaw::testing::SyntheticRecord(random, session, step, options));
          !status.ok()) {
        std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
        return 1;
      }
    }
  }
  const std::string path = (*writer)->current_path();
  writer->reset();
  if (torn) {
    const uintmax_t size = std::filesystem::file_size(path);
    if (truncate(path.c_str(), static_cast<off_t>(before_last + (size - before_last) / 2)) != 0) return 1;
  }
  if (corrupt) {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    const std::streamoff middle = static_cast<std::streamoff>(std::filesystem::file_size(path) / 2);
    char byte = 0;
    file.seekg(middle);
    file.get(byte);
    file.seekp(middle);
    file.put(static_cast<char>(byte ^ 0x5A));
  }
  std::printf("%s\n", path.c_str());
  return 0;
}
