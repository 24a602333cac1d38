#include "telemetry/trace_file.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "quantclaw/v1/trace.pb.h"

namespace quantclaw {
namespace {

std::string TempDir(const std::string& name) {
  std::string dir = std::filesystem::temp_directory_path() / ("quantclaw-trace-" + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

v1::TraceRecord Record(uint64_t index) {
  v1::TraceRecord record;
  record.set_session_id("session-" + std::to_string(index % 7));
  record.set_step_index(index);
  record.mutable_features()->set_context_tokens(1000 + index);
  record.mutable_features()->set_step_kind(index % 2 ? "search" : "answer");
  for (int i = 0; i < 16; ++i) record.mutable_features()->add_text_hash(float(i) / 16);
  record.set_kl_divergence(0.001 * double(index));
  return record;
}

// Every record of every file under `dir`, in order, with the readers' warnings.
std::vector<uint64_t> ReadAll(const std::string& dir, std::vector<TraceReader::Warning>* warnings = nullptr) {
  std::vector<uint64_t> indices;
  auto files = ListTraceFiles(dir);
  EXPECT_TRUE(files.ok()) << files.status();
  for (const std::string& file : *files) {
    auto reader = TraceReader::Open(file);
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) continue;
    v1::TraceRecord record;
    while (reader->Next(&record)) {
      EXPECT_EQ(record.session_id(), "session-" + std::to_string(record.step_index() % 7));
      indices.push_back(record.step_index());
    }
    if (warnings) warnings->insert(warnings->end(), reader->warnings().begin(), reader->warnings().end());
  }
  return indices;
}

// Where record `index` starts in a file holding records 0, 1, ...: the file header, then each record's
// 12-byte head, payload and 4-byte checksum.
size_t RecordOffset(uint64_t index) {
  size_t offset = 8;
  for (uint64_t i = 0; i < index; ++i) offset += 16 + Record(i).ByteSizeLong();
  return offset;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(TraceFileTest, RecordsReadBackInOrderAcrossRotatedFiles) {
  const std::string dir = TempDir("rotate");
  auto writer = TraceWriter::Open(dir, 4096);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (uint64_t i = 0; i < 200; ++i) ASSERT_TRUE((*writer)->Append(Record(i)).ok());
  auto files = ListTraceFiles(dir);
  ASSERT_TRUE(files.ok());
  EXPECT_GT(files->size(), 3u);  // 200 records of ~120 bytes in files of 4 KiB
  for (const std::string& file : *files) EXPECT_LE(std::filesystem::file_size(file), 4096u);
  std::vector<TraceReader::Warning> warnings;
  std::vector<uint64_t> indices = ReadAll(dir, &warnings);
  ASSERT_EQ(indices.size(), 200u);
  for (uint64_t i = 0; i < 200; ++i) EXPECT_EQ(indices[i], i);
  EXPECT_TRUE(warnings.empty());
  std::filesystem::remove_all(dir);
}

TEST(TraceFileTest, ATruncatedLastRecordIsSkippedWithAWarningWhereverItIsCut) {
  const std::string dir = TempDir("truncate");
  std::string path;
  {
    auto writer = TraceWriter::Open(dir, 1 << 20);
    ASSERT_TRUE(writer.ok());
    for (uint64_t i = 0; i < 5; ++i) ASSERT_TRUE((*writer)->Append(Record(i)).ok());
    path = (*writer)->current_path();
  }
  const std::string whole = ReadFile(path);
  const size_t four_records = RecordOffset(4);
  ASSERT_EQ(RecordOffset(5), whole.size());
  for (size_t cut = four_records + 1; cut < whole.size(); ++cut) {
    WriteFile(path, whole.substr(0, cut));
    std::vector<TraceReader::Warning> warnings;
    std::vector<uint64_t> indices = ReadAll(dir, &warnings);
    ASSERT_EQ(indices, (std::vector<uint64_t>{0, 1, 2, 3})) << "cut at " << cut;
    ASSERT_EQ(warnings.size(), 1u) << "cut at " << cut;
    EXPECT_EQ(warnings[0].path, path);
    EXPECT_EQ(warnings[0].offset, four_records);
    EXPECT_NE(warnings[0].reason.find("truncated"), std::string::npos) << warnings[0].reason;
  }
  std::filesystem::remove_all(dir);
}

TEST(TraceFileTest, ADamagedRecordIsSkippedAndTheRestStillRead) {
  const std::string dir = TempDir("damage");
  std::string path;
  {
    auto writer = TraceWriter::Open(dir, 1 << 20);
    ASSERT_TRUE(writer.ok());
    for (uint64_t i = 0; i < 5; ++i) ASSERT_TRUE((*writer)->Append(Record(i)).ok());
    path = (*writer)->current_path();
  }
  const std::string whole = ReadFile(path);
  const size_t third = RecordOffset(2);
  // Flip one byte at every position of the third record in turn: that record alone is lost.
  for (size_t i = 0; i < RecordOffset(3) - third; ++i) {
    std::string damaged = whole;
    damaged[third + i] ^= 0x40;
    WriteFile(path, damaged);
    std::vector<TraceReader::Warning> warnings;
    std::vector<uint64_t> indices = ReadAll(dir, &warnings);
    ASSERT_EQ(indices, (std::vector<uint64_t>{0, 1, 3, 4})) << "byte " << i;
    ASSERT_GE(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].offset, third) << warnings[0].reason;
  }
  std::filesystem::remove_all(dir);
}

TEST(TraceFileTest, ForeignFilesAreClearErrorsNamingFileAndOffset) {
  const std::string dir = TempDir("foreign");
  std::filesystem::create_directories(dir);
  const std::string other = dir + "/other.qctrace";
  WriteFile(other, "PK\x03\x04 not a trace");
  auto reader = TraceReader::Open(other);
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().message().find(other + ": offset 0: not a quantclaw trace file"), std::string::npos)
      << reader.status();
  WriteFile(other, "QCTRACE9....");
  reader = TraceReader::Open(other);
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().message().find("offset 7: trace format version '9', this build reads '1'"),
            std::string::npos)
      << reader.status();
  EXPECT_FALSE(TraceReader::Open(dir + "/missing.qctrace").ok());
  std::filesystem::remove_all(dir);
}

TEST(TraceFileTest, BytesInMemoryReadAsTheFileDoes) {
  const std::string dir = TempDir("bytes");
  {
    auto writer = TraceWriter::Open(dir, 1 << 20);
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE((*writer)->Append(Record(i)).ok());
  }
  auto files = ListTraceFiles(dir);
  ASSERT_TRUE(files.ok() && files->size() == 1);
  std::string bytes = ReadFile(files->front());
  bytes.resize(bytes.size() - 3);  // the last record torn
  auto reader = TraceReader::FromBytes("memory", bytes);
  ASSERT_TRUE(reader.ok()) << reader.status();
  v1::TraceRecord record;
  std::vector<uint64_t> indices;
  while (reader->Next(&record)) indices.push_back(record.step_index());
  EXPECT_EQ(indices, (std::vector<uint64_t>{0, 1}));
  ASSERT_EQ(reader->warnings().size(), 1u);
  EXPECT_EQ(reader->warnings()[0].path, "memory");
  EXPECT_EQ(reader->warnings()[0].offset, RecordOffset(2));
  auto foreign = TraceReader::FromBytes("memory", "not a trace");
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("memory: offset 0: not a quantclaw trace file"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(TraceFileTest, RandomDamageNeverCrashesAndNeverInventsARecord) {
  const std::string dir = TempDir("random");
  std::string path;
  {
    auto writer = TraceWriter::Open(dir, 1 << 20);
    ASSERT_TRUE(writer.ok());
    for (uint64_t i = 0; i < 50; ++i) ASSERT_TRUE((*writer)->Append(Record(i)).ok());
    path = (*writer)->current_path();
  }
  const std::string whole = ReadFile(path);
  std::mt19937 random(7);
  for (int round = 0; round < 300; ++round) {
    std::string damaged = whole;
    const int edits = 1 + int(random() % 8);
    for (int e = 0; e < edits; ++e) {
      const size_t at = 8 + random() % (damaged.size() - 8);
      switch (random() % 3) {
        case 0: damaged[at] = char(random()); break;
        case 1: damaged.erase(at, 1 + random() % 40); break;
        default: damaged.insert(at, std::string(1 + random() % 40, char(random()))); break;
      }
    }
    WriteFile(path, damaged);
    std::vector<uint64_t> indices = ReadAll(dir);
    // What reads back is a subsequence of what was written: in order, no duplicates, nothing made up.
    for (size_t i = 1; i < indices.size(); ++i) ASSERT_LT(indices[i - 1], indices[i]) << "round " << round;
    for (uint64_t index : indices) ASSERT_LT(index, 50u);
  }
  std::filesystem::remove_all(dir);
}

// The writer is killed (SIGKILL) at a random moment, a hundred times over: every record it had finished
// appending reads back whole, and at most the one it was writing is lost.
TEST(TraceFileTest, EveryRecordFinishedBeforeAKillReadsBack) {
  std::mt19937 random(11);
  int rounds_with_files = 0;
  for (int round = 0; round < 100; ++round) {
    const std::string dir = TempDir("kill");
    int done[2];
    ASSERT_EQ(pipe(done), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(done[0]);
      auto writer = TraceWriter::Open(dir, 64 * 1024);
      if (!writer.ok()) _exit(3);
      for (uint64_t i = 0;; ++i) {
        if (!(*writer)->Append(Record(i)).ok()) _exit(4);
        // Only now is record i finished; tell the parent.
        if (write(done[1], &i, sizeof(i)) != sizeof(i)) _exit(5);
      }
    }
    close(done[1]);
    usleep(1000 + random() % 20000);
    kill(child, SIGKILL);
    uint64_t finished = 0, index = 0;
    bool any = false;
    while (read(done[0], &index, sizeof(index)) == sizeof(index)) {
      finished = index;
      any = true;
    }
    close(done[0]);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "round " << round << ": the writer exited by itself, status " << status;
    if (!std::filesystem::exists(dir)) {
      ASSERT_FALSE(any) << "round " << round;  // killed before it made its directory
      continue;
    }
    ++rounds_with_files;
    std::vector<TraceReader::Warning> warnings;
    std::vector<uint64_t> indices = ReadAll(dir, &warnings);
    if (any) {
      ASSERT_GE(indices.size(), finished + 1) << "round " << round;
      for (uint64_t i = 0; i <= finished; ++i) ASSERT_EQ(indices[i], i) << "round " << round;
    }
    // Beyond the finished ones, at most the record in flight (whole, if its write completed).
    ASSERT_LE(indices.size(), (any ? finished + 1 : 0) + 1) << "round " << round;
    ASSERT_LE(warnings.size(), 1u) << "round " << round << ": " << warnings[0].reason;
    std::filesystem::remove_all(dir);
  }
  EXPECT_GT(rounds_with_files, 50);  // the kills mostly landed mid-stream, not before the first write
}

}  // namespace
}  // namespace quantclaw
