#include "tools/learning_cli.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "learning/model_file.h"

namespace quantclaw::tools {

using absl::StrCat;

std::optional<std::string> Arguments::Value(const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<Arguments> ParseArguments(const std::vector<std::string>& args, const std::vector<std::string>& with_value,
                                         const std::vector<std::string>& flags) {
  Arguments parsed;
  auto known = [](const std::vector<std::string>& names, const std::string& name) {
    for (const std::string& candidate : names) {
      if (candidate == name) return true;
    }
    return false;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg[0] != '-') {
      parsed.positional.push_back(arg);
      continue;
    }
    std::string name = arg, value;
    bool inline_value = false;
    if (size_t equals = arg.find('='); equals != std::string::npos) {
      name = arg.substr(0, equals);
      value = arg.substr(equals + 1);
      inline_value = true;
    }
    if (known(flags, name) && !inline_value) {
      parsed.flags[name] = true;
    } else if (known(with_value, name)) {
      if (!inline_value) {
        if (i + 1 >= args.size()) return absl::InvalidArgumentError(StrCat(name, " needs a value"));
        value = args[++i];
      }
      parsed.values[name] = value;
    } else {
      return absl::InvalidArgumentError(StrCat("unknown option ", arg));
    }
  }
  return parsed;
}

absl::StatusOr<double> ParseFraction(const std::string& option, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || errno != 0 || !(value > 0 && value < 1)) {
    return absl::InvalidArgumentError(StrCat(option, " ", text, ": expected a number in (0, 1)"));
  }
  return value;
}

absl::StatusOr<uint64_t> ParseCount(const std::string& option, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || end != text.c_str() + text.size() || errno != 0) {
    return absl::InvalidArgumentError(StrCat(option, " ", text, ": expected a whole number"));
  }
  return value;
}

Progress::Progress(std::string label) : label_(std::move(label)), enabled_(isatty(STDERR_FILENO) == 1) {}

bool Progress::Due() {
  if (!enabled_) return false;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(100)) return false;
  last_ = now;
  drawn_ = true;
  return true;
}

void Progress::Update(uint64_t done, uint64_t total) {
  if (!Due()) return;
  constexpr int kWidth = 30;
  const double share = total > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total)) : 1.0;
  const int filled = static_cast<int>(share * kWidth);
  std::fprintf(stderr, "\r\033[K%s [%s%s] %3.0f%% %.1f/%.1f MB", label_.c_str(), std::string(filled, '#').c_str(),
               std::string(kWidth - filled, ' ').c_str(), 100 * share, done / 1e6, total / 1e6);
  std::fflush(stderr);
}

void Progress::Text(const std::string& text) {
  if (!Due()) return;
  std::fprintf(stderr, "\r\033[K%s: %s", label_.c_str(), text.c_str());
  std::fflush(stderr);
}

void Progress::Finish() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

void PrintWarnings(const std::string& command, const std::vector<std::string>& warnings) {
  constexpr size_t kShown = 20;
  for (size_t i = 0; i < warnings.size() && i < kShown; ++i) {
    std::fprintf(stderr, "quantclaw %s: warning: %s\n", command.c_str(), warnings[i].c_str());
  }
  if (warnings.size() > kShown) {
    std::fprintf(stderr, "quantclaw %s: warning: %zu more warnings\n", command.c_str(), warnings.size() - kShown);
  }
}

absl::StatusOr<learning::StepTable> ReadSteps(const std::string& command, const std::vector<std::string>& traces,
                                              bool labelled_only, const Arguments& arguments,
                                              learning::LoadReport* report, size_t* excluded) {
  *excluded = 0;
  std::set<std::string, std::less<>> kinds;
  if (std::optional<std::string> text = arguments.Value(kExcludeStepKind)) {
    for (absl::string_view kind : absl::StrSplit(*text, ',')) {
      if (kind.empty()) return absl::InvalidArgumentError(StrCat(kExcludeStepKind, " ", *text, ": an empty step kind"));
      kinds.emplace(kind);
    }
  }
  absl::StatusOr<learning::StepTable> table;
  {
    Progress progress("reading traces");
    table = learning::LoadSteps(traces, labelled_only, progress.Callback(), report);
  }
  if (!table.ok()) return table.status();
  PrintWarnings(command, report->warnings);
  if (kinds.empty()) return table;
  std::vector<size_t> kept;
  for (size_t i = 0; i < table->rows(); ++i) {
    if (!kinds.contains(table->step_kind[i])) kept.push_back(i);
  }
  *excluded = table->rows() - kept.size();
  return table->Subset(kept);
}

namespace {

// JSON as Boost.JSON writes it, but for doubles: those in the shortest decimal that reads back to the
// same double (0.3, not Boost's 3E-1), so that a person reading the line sees ordinary numbers.
void AppendJson(const boost::json::value& value, std::string* out) {
  switch (value.kind()) {
    case boost::json::kind::object: {
      out->push_back('{');
      bool first = true;
      for (const boost::json::key_value_pair& member : value.get_object()) {
        if (!first) out->push_back(',');
        first = false;
        out->append(boost::json::serialize(boost::json::string(member.key())));
        out->push_back(':');
        AppendJson(member.value(), out);
      }
      out->push_back('}');
      return;
    }
    case boost::json::kind::array: {
      out->push_back('[');
      bool first = true;
      for (const boost::json::value& element : value.get_array()) {
        if (!first) out->push_back(',');
        first = false;
        AppendJson(element, out);
      }
      out->push_back(']');
      return;
    }
    case boost::json::kind::double_: {
      const double number = value.get_double();
      if (!std::isfinite(number)) {
        out->append("null");  // JSON has no infinity or NaN
        return;
      }
      char text[32];
      const std::to_chars_result written = std::to_chars(text, text + sizeof text, number);
      out->append(text, written.ptr);
      return;
    }
    default:
      out->append(boost::json::serialize(value));
  }
}

}  // namespace

void PrintJson(const boost::json::object& object) {
  std::string line;
  AppendJson(object, &line);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

int Fail(const std::string& command, const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "quantclaw %s: %s\n", command.c_str(), message.c_str());
  boost::json::object json;
  json["command"] = command;
  json["ok"] = false;
  json["error"] = message;
  PrintJson(json);
  return kExitBadInput;
}

std::vector<bool> LabelsAbove(const std::vector<double>& kl, double threshold) {
  std::vector<bool> labels(kl.size());
  for (size_t i = 0; i < kl.size(); ++i) labels[i] = kl[i] > threshold;
  return labels;
}

std::vector<double> ScoreAll(const v1::LearnedModel& model, const learning::StepTable& table) {
  // Compiled once, scored by the runtime's own LearnedModel::Score: what eval measures is what routes.
  std::vector<double> scores(table.rows(), 1.0);
  absl::StatusOr<std::shared_ptr<const LearnedModel>> compiled = learning::CompileModel(model, "model");
  if (!compiled.ok()) return scores;
  for (size_t i = 0; i < table.rows(); ++i) scores[i] = (*compiled)->Score(table.row(i));
  return scores;
}

}  // namespace quantclaw::tools
