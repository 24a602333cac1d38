// Fuzz target for configs, QuantClaw's `quant` object and its patterns included. The first byte picks
// what the rest is (byte % 3), for 1 and 2 the detector's mode ((byte / 3) % 2: faithful, improved), and
// the prompt a compiled detector runs on ((byte / 6) % 9):
//   0  a whole router config (what qc_router_new and qc_router_reload get)
//   1  a `quant` object (the scorer's, as the QuantClaw plugin writes it)
//   2  patterns, one per line, put into a `quant` object as is, so that mutations reach the pattern
//      compiler (its JavaScript-to-PCRE2 rewriting) without having to keep the JSON around them valid
// The property: a config is accepted or refused with problems that each name a reason; nothing
// crashes or hangs. A compiled detector then runs on one of a fixed set of prompts: Detect gives the same
// answer twice and stays within a time bound (the pattern step budget holds). One prompt per input, not
// all of them: a pattern that runs to the step budget costs some 20 ms a prompt, and nine prompts made
// the target too slow to fuzz (165 executions a second); the fuzzer reaches every prompt through the
// first byte.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "policy/quantclaw_scorer.h"
#include "policy/task_types.h"
#include "router/router_config.h"
#include "util/utf8.h"

namespace {

namespace json = boost::json;
using quantclaw::ConfigErrors;
using quantclaw::TaskTypeDetector;
using quantclaw::TaskTypeMatch;
using quantclaw::TaskTypeMode;

// Prompts of the kinds the detector sees, and a few that make slow patterns slow: a long line with no
// line end, a line of one repeated letter, invalid UTF-8, line terminators JavaScript knows and PCRE2
// does not by default.
const std::string& Prompt(int index) {
  static const std::string kPrompts[] = {
      "",
      "hello",
      "Please fix this bug in my code and debug the crash",
      "Rewrite the attached blog post so it sounds more natural and human-written while keeping the same ideas",
      "请帮我做供应商评估，并给出采购建议和预算",
      "1. read the file\n2. parse it\n3. write the summary\r\nthen call the API and the database",
      std::string(2000, 'a') + "!",
      [] {
        std::string line;
        for (int i = 0; i < 300; ++i) line += "vendor evaluation supplier ";
        return line;
      }(),
      "caf\xC3\xA9 \xFF\xFE broken \xE2\x80 utf-8 \xE2\x80\xA8 line separator \r carriage return",
  };
  return kPrompts[index];
}
constexpr int kPromptCount = 9;

void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "%s\n%s\n", what, detail.c_str());
  std::abort();
}

void CheckProblems(const ConfigErrors& errors, std::string_view pointer_prefix) {
  if (errors.empty()) Fail("refused without a problem", "");
  for (const quantclaw::ConfigError& error : errors) {
    if (error.reason.empty()) Fail("a problem without a reason at", error.pointer);
    // Every pointer is a JSON pointer under the object compiled ("" is the document itself).
    if (!error.pointer.empty() && error.pointer.rfind(pointer_prefix, 0) != 0) {
      Fail("a problem outside the object compiled", error.pointer + ": " + error.reason);
    }
  }
}

bool Same(const TaskTypeMatch& a, const TaskTypeMatch& b) {
  return a.task_type == b.task_type && a.score == b.score && a.runner_up_score == b.runner_up_score &&
         a.pattern_hits == b.pattern_hits && a.keyword_hits == b.keyword_hits && a.complex == b.complex;
}

// Each message's searches share a step budget (some 20 ms of matching, more under sanitizers), so a
// prompt costs a bounded time; a runaway pattern would take minutes.
void Detect(const TaskTypeDetector& detector, size_t patterns, int prompt) {
  const auto bound = std::chrono::milliseconds(2000 + 500 * static_cast<int64_t>(patterns));
  const int i = prompt % kPromptCount;
  const auto start = std::chrono::steady_clock::now();
  const TaskTypeMatch first = detector.Detect(Prompt(i));
  const auto took = std::chrono::steady_clock::now() - start;
  if (took > bound) {
    Fail("Detect ran past its bound on prompt",
         std::to_string(i) + ": " +
             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) + " ms");
  }
  if (first.task_type >= detector.task_type_count()) Fail("Detect named a task type that is not there", "");
  if (!Same(first, detector.Detect(Prompt(i)))) Fail("Detect answered differently twice on prompt", std::to_string(i));
}

size_t CountPatterns(const json::value& quant) {
  size_t count = 0;
  const json::object* object = quant.if_object();
  const json::value* task_types = object ? object->if_contains("taskTypes") : nullptr;
  if (task_types == nullptr || !task_types->is_array()) return 0;
  for (const json::value& task : task_types->get_array()) {
    const json::value* patterns = task.is_object() ? task.get_object().if_contains("patterns") : nullptr;
    if (patterns != nullptr && patterns->is_array()) count += patterns->get_array().size();
  }
  return count;
}

void CompileQuant(const json::value& quant, TaskTypeMode mode, int prompt) {
  ConfigErrors errors;
  auto detector = TaskTypeDetector::Compile(quant, "/policy/scorer/quant", mode, &errors);
  if (detector == nullptr) {
    CheckProblems(errors, "/policy/scorer/quant");
    return;
  }
  if (!errors.empty()) Fail("compiled with problems", errors[0].pointer + ": " + errors[0].reason);
  Detect(*detector, CountPatterns(quant), prompt);
}

void RouterConfig(std::string_view text, int prompt) {
  ConfigErrors errors;
  auto config = quantclaw::ParseRouterConfig(text, &errors);
  if (config == nullptr) {
    CheckProblems(errors, "/");
    auto loaded = quantclaw::LoadRouterConfig(text);
    if (loaded.ok() || loaded.status().message().empty()) Fail("LoadRouterConfig disagrees with ParseRouterConfig", "");
    return;
  }
  if (!errors.empty()) Fail("accepted with problems", errors[0].pointer + ": " + errors[0].reason);
  const quantclaw::QuantClawScorer* scorer = config->quantclaw_scorer();
  if (scorer != nullptr && scorer->detector != nullptr) Detect(*scorer->detector, 64, prompt);
}

void Quant(std::string_view text, TaskTypeMode mode, int prompt) {
  json::parse_options options;
  options.max_depth = 64;  // as the config reader parses
  boost::system::error_code ec;
  json::value quant = json::parse(json::string_view(text.data(), text.size()), ec, json::storage_ptr(), options);
  if (ec) return;
  CompileQuant(quant, mode, prompt);
}

void Patterns(std::string_view text, TaskTypeMode mode, int prompt) {
  // The config reader hands the compiler valid UTF-8 only (Boost.JSON checks it), so lines are made
  // valid the same way the detector makes prompts valid.
  json::array patterns;
  while (!text.empty() && patterns.size() < 16) {
    const size_t newline = text.find('\n');
    std::string storage;
    const std::string_view line = quantclaw::ReplaceInvalidUtf8(text.substr(0, newline), &storage);
    patterns.emplace_back(json::string(line.data(), line.size()));
    if (newline == std::string_view::npos) break;
    text.remove_prefix(newline + 1);
  }
  json::object fuzz;
  fuzz["id"] = "fuzz";
  fuzz["precision"] = "4bit";
  fuzz["keywords"] = json::array{"bug", "fix"};
  fuzz["patterns"] = std::move(patterns);
  json::object standard;
  standard["id"] = "standard";
  standard["precision"] = "16bit";
  json::object quant;
  quant["taskTypes"] = json::array{std::move(fuzz), std::move(standard)};
  quant["defaultTaskType"] = "standard";
  CompileQuant(json::value(std::move(quant)), mode, prompt);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 1 << 16) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const TaskTypeMode mode = (data[0] / 3) % 2 ? TaskTypeMode::kImproved : TaskTypeMode::kFaithful;
  const int prompt = data[0] / 6;
  switch (data[0] % 3) {
    case 0:
      RouterConfig(input, prompt);
      break;
    case 1:
      Quant(input, mode, prompt);
      break;
    case 2:
      Patterns(input, mode, prompt);
      break;
  }
  return 0;
}
