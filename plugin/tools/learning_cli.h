// What the learning subcommands (train, eval, calibrate, report) share: arguments, the progress bar,
// the closing JSON line and the error convention.
//
// Conventions, the same for every subcommand:
// - Human-readable lines first; the last stdout line is one JSON object (for scripts), also on failure
//   ({"command": ..., "ok": false, "error": ...}).
// - Bad input (a missing or damaged file, a foreign format version, no labelled records, K outside (0, 1))
//   is one "quantclaw COMMAND: ..." line on stderr naming the file (and offset), and exit code 2.
// - The progress bar is drawn on stderr only when stderr is a terminal, redrawn at most ten times a
//   second: a log file or a pipe gets the warnings and the results, never carriage-return noise.
#ifndef QUANTCLAW_PLUGIN_TOOLS_LEARNING_CLI_H_
#define QUANTCLAW_PLUGIN_TOOLS_LEARNING_CLI_H_

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "learning/dataset.h"
#include "quantclaw/v1/learned_model.pb.h"

namespace quantclaw::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitBadInput = 2;

int RunTrain(const std::vector<std::string>& args);
int RunEval(const std::vector<std::string>& args);
int RunCalibrate(const std::vector<std::string>& args);
int RunReport(const std::vector<std::string>& args);

struct Arguments {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // "--seed" -> "7"
  std::map<std::string, bool> flags;          // "--per-task-type"

  std::optional<std::string> Value(const std::string& name) const;
};
// `with_value` names the options that take a value, `flags` those that do not; anything else starting
// with '-' is an error.
absl::StatusOr<Arguments> ParseArguments(const std::vector<std::string>& args, const std::vector<std::string>& with_value,
                                         const std::vector<std::string>& flags);
absl::StatusOr<double> ParseFraction(const std::string& option, const std::string& text);  // in (0, 1)
absl::StatusOr<uint64_t> ParseCount(const std::string& option, const std::string& text);

class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress() { Finish(); }
  void Update(uint64_t done, uint64_t total);
  void Text(const std::string& text);  // a status line instead of a bar (training epochs)
  void Finish();
  learning::ProgressFn Callback() {
    return [this](uint64_t done, uint64_t total) { Update(done, total); };
  }

 private:
  bool Due();
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

// Prints warnings to stderr (the first 20, then how many more).
void PrintWarnings(const std::string& command, const std::vector<std::string>& warnings);

// The option every learning command takes: --exclude-step-kind KIND[,KIND...].
inline constexpr char kExcludeStepKind[] = "--exclude-step-kind";

// The steps of the trace files `traces` (a progress bar while reading; the warnings printed), less the
// step kinds --exclude-step-kind names. DMR (appendix C.1) leaves out of training and of the budget the
// steps a rule always sends to the reference, such as search: their labels teach the scorer nothing it
// decides, and counting them would spend the budget K on steps it never sees. `*excluded`: the rows left
// out that way.
absl::StatusOr<learning::StepTable> ReadSteps(const std::string& command, const std::vector<std::string>& traces,
                                              bool labelled_only, const Arguments& arguments,
                                              learning::LoadReport* report, size_t* excluded);
// The closing JSON line.
void PrintJson(const boost::json::object& object);
// The error convention above; returns kExitBadInput.
int Fail(const std::string& command, const std::string& message);

std::vector<bool> LabelsAbove(const std::vector<double>& kl, double threshold);
std::vector<double> ScoreAll(const v1::LearnedModel& model, const learning::StepTable& table);

}  // namespace quantclaw::tools

#endif  // QUANTCLAW_PLUGIN_TOOLS_LEARNING_CLI_H_
