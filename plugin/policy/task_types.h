// QuantClaw task types: the rule detector of the QuantClaw plugin for OpenClaw, compatible with its
// `quant` config object (taskTypes, defaultTaskType, targets). See ../shared/compat/README.md and
// README.md "QuantClaw compatibility" for what faithful and improved modes do.
#ifndef QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_H_
#define QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "util/validator.h"

namespace quantclaw {

// QuantClaw's precisions, in escalation order.
enum class Precision : uint8_t { k4bit = 0, k8bit = 1, k16bit = 2 };
inline constexpr int kPrecisionCount = 3;
std::string_view PrecisionName(Precision precision);  // "4bit", "8bit", "16bit"

enum class TaskTypeMode : uint8_t {
  kFaithful,  // decides exactly as the plugin's rule detector does
  kImproved,  // whole-word system words, plural-tolerant keywords, keywords of any id but the
              // plugin's five keyword-less ones (see README.md)
};

struct TaskTypeMatch {
  int task_type = -1;  // index into the detector's task types; -1: the rules declined
  int score = 0;
  int runner_up_score = 0;
  int pattern_hits = 0;
  int keyword_hits = 0;
  bool complex = false;
  // The message's pattern step budget ran out: the patterns not yet decided counted as no match.
  bool pattern_budget_exhausted = false;
};

class TaskTypeDetector {
 public:
  struct TaskType {
    std::string id;
    Precision precision = Precision::k16bit;
    // compiled keywords and patterns are internal
  };

  // Compiles the plugin's `quant` object. Every problem is appended to `errors` with a pointer under
  // `pointer` (e.g. "/policy/scorer/quant/taskTypes/14/patterns/0: ..."); returns nullptr if any.
  static std::shared_ptr<const TaskTypeDetector> Compile(const boost::json::value& quant,
                                                         const std::string& pointer,
                                                         TaskTypeMode mode, ConfigErrors* errors);
  ~TaskTypeDetector();

  // Runs the rule detector on a prompt. Thread-safe. Pattern matching is bounded by PCRE2 match and
  // depth limits and never recurses on the C stack.
  TaskTypeMatch Detect(std::string_view prompt) const;
  // The same by the reference path: no literal prefilter (task_types/prefilter.h), every pattern
  // run, and every keyword asked on its own (no task_types/keywords.h KeywordIndex). For the tests
  // that hold the fast path to the same answers.
  TaskTypeMatch DetectRunningEveryPattern(std::string_view prompt) const;

  int task_type_count() const;
  const TaskType& task_type(int index) const;
  int FindTaskType(std::string_view id) const;  // -1 when absent
  int default_task_type() const;                // index of defaultTaskType

  // The precision that serves a task type: its own, escalated 4bit -> 8bit -> 16bit while the
  // target for a precision lacks a provider or a model. *escalated tells whether it moved.
  Precision ResolvePrecision(int task_type, bool* escalated) const;

 private:
  struct Impl;
  TaskTypeMatch Detect(std::string_view prompt, bool fast) const;
  explicit TaskTypeDetector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_H_
