// The rule detector of the QuantClaw plugin for OpenClaw (SparkEngineAI/QuantClaw-plugin, commit
// 81f9f5770cd4, src/routers/quant.ts: detectTaskTypeByRules and its helpers), reproduced decision
// for decision. Where JavaScript semantics matter, task_types/js_text.h (trim, toLowerCase,
// String.length) and task_types/js_regex.h (regex flags "iu") say how they are reproduced and where
// they are not; this file is the detector: the config compiled, and the plugin's scoring rules.
#include "policy/task_types.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "policy/task_types/js_regex.h"
#include "policy/task_types/js_text.h"
#include "policy/task_types/keywords.h"
#include "policy/task_types/prefilter.h"
#include "util/strings.h"
#include "util/utf8.h"

namespace quantclaw {
namespace {

namespace json = boost::json;
using internal::CodePtr;
using internal::CompileContextPtr;
using internal::CompiledPattern;
using internal::CompileJsPattern;
using internal::CompileRegex;
using internal::CountNumberedSteps;
using internal::ExtractRequiredLiterals;
using internal::IsRuleToken;
using internal::JitCompile;
using internal::KeywordIndex;
using internal::LiteralTable;
using internal::JsToLower;
using internal::JsTrim;
using internal::Keyword;
using internal::KeywordKind;
using internal::KeywordMatches;
using internal::MakeKeyword;
using internal::TokenSet;
using internal::NewJsCompileContext;
using internal::PatternMatcher;
using internal::Utf16Length;

// -------------------------------------------------------------------------------------------------
// The plugin's constants.

constexpr int kPatternPoints = 14;
constexpr int kScoreThreshold = 8;
constexpr int kMarginThreshold = 4;
constexpr size_t kSimplePromptMaxLength = 220;  // in UTF-16 code units, as JavaScript's .length

// COMPLEX_RULE_SYSTEM_HINTS, verbatim: naming two of these systems makes a prompt "complex".
constexpr std::string_view kSystemHints[] = {
    "email",          "inbox",    "邮件",           "收件箱",   "crm",
    "calendar",       "日历",     "knowledge base", "知识库",   "rss",
    "finance system", "财务系统", "inventory",      "库存",     "ticket",
    "工单",           "helpdesk", "scheduled job",  "定时任务", "api",
    "integration",    "集成",     "todo",           "待办"};

// SIMPLE_RULE_ALLOWED_TASK_IDS, verbatim. It is a fixed list of ids, not "all but a few": in faithful
// mode, keywords of a task type whose id is not listed here (a user's own task type included, and the
// plugin's own schema defaults "simple" and "reasoning") never count.
constexpr std::string_view kKeywordTaskIds[] = {
    "research",      "knowledge",   "content",       "rewriting", "coding",
    "multimodal",    "procurement", "communication", "finance",   "data_analysis",
    "security",      "compliance",  "safety",        "terminal",  "file_ops",
    "comprehension", "memory",      "organization",  "synthesis", "operations"};

// The list is the plugin's 25 shipped task types less these five: the catch-all and four classes
// whose keywords name a system or a chore more than a task ("calendar", "meeting", "incident", "OCR"),
// which the plugin decides only by their patterns or the judge. The list is the only thing that tells
// ids apart: points, the "complex" gate and the two-keyword minimum are the same for every listed id.
// Improved mode keeps the plugin's judgement on these five and counts the keywords of every other id,
// a user's own included (and the schema's "simple" and "reasoning", which the list forgot), under
// exactly those rules.
constexpr std::string_view kKeywordlessTaskIds[] = {"office_qa", "productivity", "ops", "workflow",
                                                    "standard"};

bool KeywordsCount(std::string_view id, TaskTypeMode mode) {
  if (mode == TaskTypeMode::kFaithful) {
    return std::find(std::begin(kKeywordTaskIds), std::end(kKeywordTaskIds), id) !=
           std::end(kKeywordTaskIds);
  }
  return std::find(std::begin(kKeywordlessTaskIds), std::end(kKeywordlessTaskIds), id) ==
         std::end(kKeywordlessTaskIds);
}

// The keys the plugin's config schema knows (src/config-schema.ts); anything else is a typo.
constexpr std::string_view kQuantKeys[] = {"enabled",        "detectors",       "judge",
                                           "taskTypes",      "defaultTaskType", "targets",
                                           "fallbackPolicy", "modelPricing"};
constexpr std::string_view kTaskTypeKeys[] = {"id", "description", "precision", "keywords",
                                              "patterns"};
// apiKey and customModule are in the plugin's target schema too: a migrated config may carry them.
constexpr std::string_view kTargetKeys[] = {"provider", "model", "displayName", "pricing",
                                            "endpoint", "api",   "apiKey",      "customModule"};
constexpr std::array<std::string_view, kPrecisionCount> kPrecisionNames = {"4bit", "8bit", "16bit"};

// Patterns see only the first 64 KiB of the prompt (cut back to a UTF-8 boundary), which bounds
// what one pattern can cost on a huge paste (js_regex.cc bounds the matching itself). The plugin has no cap, so a phrase that appears only
// past the first 64 KiB can be decided differently.
constexpr size_t kPatternSubjectMaxBytes = 64 * 1024;

// -------------------------------------------------------------------------------------------------
// Config validation helpers.

template <typename Keys>
void ReportUnknownKeys(const json::object& object, const Keys& known, const std::string& pointer,
                       ConfigErrors* errors) {
  for (const auto& entry : object) {
    const std::string_view key = entry.key();
    if (std::find(std::begin(known), std::end(known), key) != std::end(known)) continue;
    const std::vector<std::string_view> candidates(std::begin(known), std::end(known));
    errors->push_back(
        {JoinPointer(pointer, key), "unknown key " + Quote(key) + DidYouMean(key, candidates)});
  }
}

// Collects the strings of an optional array field; reports a non-array or a non-string element.
std::vector<std::string_view> StringArray(const json::object& object, std::string_view key,
                                          const std::string& pointer, ConfigErrors* errors) {
  std::vector<std::string_view> strings;
  const json::value* value = object.if_contains(key);
  if (value == nullptr) return strings;
  const std::string field_pointer = JoinPointer(pointer, key);
  const json::array* array = value->if_array();
  if (array == nullptr) {
    errors->push_back(
        {field_pointer, "expected an array of strings, got " + std::string(JsonKindName(*value))});
    return strings;
  }
  for (size_t i = 0; i < array->size(); ++i) {
    const json::string* text = (*array)[i].if_string();
    if (text == nullptr) {
      errors->push_back({JoinPointer(field_pointer, i),
                         "expected a string, got " + std::string(JsonKindName((*array)[i]))});
      continue;
    }
    strings.emplace_back(text->data(), text->size());
  }
  return strings;
}

bool IsAsciiTokenStart(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// The tokenizer's next match at or after `offset`, as [*begin, *end): the plugin's
// /[\p{L}\p{N}][\p{L}\p{N}_-]*/gu, whose ASCII letters and numbers are [A-Za-z0-9]. ASCII is
// decided here; where a non-ASCII character is met, before a token or right after one, PCRE2 (which
// knows Unicode's letters and numbers) searches from there or from the token's start. A PCRE2
// search for every token cost a quarter of a detection on the bench prompts.
bool NextToken(const pcre2_code* tokenizer, PatternMatcher* matcher, std::string_view text,
               size_t offset, size_t* begin, size_t* end) {
  size_t start = offset;
  for (; start < text.size(); ++start) {
    const auto c = static_cast<unsigned char>(text[start]);
    if (c >= 0x80) return matcher->Find(tokenizer, text, start, begin, end);
    if (IsAsciiTokenStart(c)) break;
  }
  if (start == text.size()) return false;
  size_t stop = start + 1;
  for (; stop < text.size(); ++stop) {
    const auto c = static_cast<unsigned char>(text[stop]);
    if (c >= 0x80) return matcher->Find(tokenizer, text, start, begin, end);
    if (!IsAsciiTokenStart(c) && c != '_' && c != '-') break;
  }
  *begin = start;
  *end = stop;
  return true;
}

bool ParsePrecision(std::string_view name, Precision* precision) {
  for (int p = 0; p < kPrecisionCount; ++p) {
    if (kPrecisionNames[p] == name) {
      *precision = static_cast<Precision>(p);
      return true;
    }
  }
  return false;
}

}  // namespace

// -------------------------------------------------------------------------------------------------

std::string_view PrecisionName(Precision precision) {
  const auto index = static_cast<size_t>(precision);
  return index < kPrecisionNames.size() ? kPrecisionNames[index] : std::string_view("16bit");
}

struct TaskTypeDetector::Impl {
  struct Rules {
    std::vector<CompiledPattern> patterns;
    // Parallel to patterns: the literals a match needs, as clauses of indices into `literals`.
    std::vector<std::vector<std::vector<uint32_t>>> pattern_literals;
    std::vector<Keyword> keywords;
    std::vector<uint32_t> keyword_ids;  // parallel to keywords: their ids in keyword_index
    bool keywords_count = false;  // KeywordsCount: the plugin's allow-list, or improved mode's rule
  };

  TaskTypeMode mode = TaskTypeMode::kImproved;
  std::vector<TaskType> task_types;
  std::vector<Rules> rules;  // parallel to task_types
  std::vector<Keyword> system_hints;
  std::vector<uint32_t> system_hint_ids;  // parallel to system_hints
  KeywordIndex keyword_index;
  LiteralTable literals;
  int default_task_type = -1;
  // Whether targets[precision] names both a provider and a model.
  std::array<bool, kPrecisionCount> target_ready = {false, false, false};
  CodePtr tokenizer;

  void CompilePatterns(const std::vector<std::string_view>& patterns, const std::string& pointer,
                       pcre2_compile_context* context, Rules* task_rules, ConfigErrors* errors);
  void CompileTargets(const json::value& targets, const std::string& pointer, ConfigErrors* errors);
};

void TaskTypeDetector::Impl::CompilePatterns(const std::vector<std::string_view>& patterns,
                                             const std::string& pointer,
                                             pcre2_compile_context* context, Rules* task_rules,
                                             ConfigErrors* errors) {
  for (size_t i = 0; i < patterns.size(); ++i) {
    std::string error;
    CompiledPattern compiled = CompileJsPattern(patterns[i], context, &error);
    if (compiled.code == nullptr) {
      errors->push_back({JoinPointer(pointer, i), "invalid regular expression: " + error});
      continue;
    }
    task_rules->patterns.push_back(std::move(compiled));
    task_rules->pattern_literals.push_back(literals.Add(ExtractRequiredLiterals(patterns[i])));
  }
}

void TaskTypeDetector::Impl::CompileTargets(const json::value& targets, const std::string& pointer,
                                            ConfigErrors* errors) {
  const json::object* object = targets.if_object();
  if (object == nullptr) {
    errors->push_back({pointer, "expected an object, got " + std::string(JsonKindName(targets))});
    return;
  }
  ReportUnknownKeys(*object, kPrecisionNames, pointer, errors);
  for (int p = 0; p < kPrecisionCount; ++p) {
    const json::value* target_value = object->if_contains(kPrecisionNames[p]);
    if (target_value == nullptr) continue;
    const std::string target_pointer = JoinPointer(pointer, kPrecisionNames[p]);
    const json::object* target = target_value->if_object();
    if (target == nullptr) {
      errors->push_back(
          {target_pointer, "expected an object, got " + std::string(JsonKindName(*target_value))});
      continue;
    }
    ReportUnknownKeys(*target, kTargetKeys, target_pointer, errors);
    bool ready = true;
    for (std::string_view field : {std::string_view("provider"), std::string_view("model")}) {
      const json::value* value = target->if_contains(field);
      if (value == nullptr) {
        ready = false;  // allowed: the precision escalates
        continue;
      }
      const json::string* text = value->if_string();
      if (text == nullptr) {
        errors->push_back({JoinPointer(target_pointer, field),
                           "expected a string, got " + std::string(JsonKindName(*value))});
        ready = false;
      } else if (text->empty()) {
        ready = false;
      }
    }
    target_ready[p] = ready;
  }
}

TaskTypeDetector::TaskTypeDetector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TaskTypeDetector::~TaskTypeDetector() = default;

std::shared_ptr<const TaskTypeDetector> TaskTypeDetector::Compile(const json::value& quant,
                                                                  const std::string& pointer,
                                                                  TaskTypeMode mode,
                                                                  ConfigErrors* errors) {
  ConfigErrors discarded;
  if (errors == nullptr) errors = &discarded;
  const size_t errors_before = errors->size();

  const json::object* object = quant.if_object();
  if (object == nullptr) {
    errors->push_back({pointer, "expected an object, got " + std::string(JsonKindName(quant))});
    return nullptr;
  }
  ReportUnknownKeys(*object, kQuantKeys, pointer, errors);

  auto impl = std::make_unique<Impl>();
  impl->mode = mode;

  CompileContextPtr compile_context = NewJsCompileContext();
  if (compile_context == nullptr) {
    errors->push_back({pointer, "out of memory compiling patterns"});
    return nullptr;
  }

  // Letters and digits, then also '_' and '-': the plugin's /[\p{L}\p{N}][\p{L}\p{N}_-]*/gu.
  impl->tokenizer = CompileRegex(R"([\p{L}\p{N}][\p{L}\p{N}_-]*)", PCRE2_UTF | PCRE2_UCP,
                                 compile_context.get(), nullptr);
  if (impl->tokenizer == nullptr) {
    errors->push_back({pointer, "PCRE2 lacks Unicode support"});
    return nullptr;
  }
  JitCompile(impl->tokenizer.get());

  const std::string task_types_pointer = JoinPointer(pointer, "taskTypes");
  const json::value* task_types_value = object->if_contains("taskTypes");
  const json::array* task_types = task_types_value ? task_types_value->if_array() : nullptr;
  if (task_types_value == nullptr) {
    errors->push_back({task_types_pointer, "required array of task types is missing"});
  } else if (task_types == nullptr) {
    errors->push_back({task_types_pointer, "expected an array of task types, got " +
                                               std::string(JsonKindName(*task_types_value))});
  } else if (task_types->empty()) {
    errors->push_back({task_types_pointer, "must not be empty"});
  } else {
    for (size_t i = 0; i < task_types->size(); ++i) {
      const std::string task_pointer = JoinPointer(task_types_pointer, i);
      const json::object* task = (*task_types)[i].if_object();
      if (task == nullptr) {
        errors->push_back(
            {task_pointer, "expected an object, got " + std::string(JsonKindName((*task_types)[i]))});
        continue;
      }
      ReportUnknownKeys(*task, kTaskTypeKeys, task_pointer, errors);
      TaskType task_type;
      Impl::Rules task_rules;

      const std::string id_pointer = JoinPointer(task_pointer, "id");
      const json::value* id_value = task->if_contains("id");
      const json::string* id = id_value ? id_value->if_string() : nullptr;
      if (id_value == nullptr) {
        errors->push_back({id_pointer, "required string is missing"});
      } else if (id == nullptr) {
        errors->push_back(
            {id_pointer, "expected a string, got " + std::string(JsonKindName(*id_value))});
      } else if (id->empty()) {
        errors->push_back({id_pointer, "must not be empty"});
      } else {
        task_type.id = std::string(id->data(), id->size());
        for (size_t j = 0; j < impl->task_types.size(); ++j) {
          if (impl->task_types[j].id == task_type.id) {
            errors->push_back({id_pointer, "duplicate id " + Quote(task_type.id) + " (also at " +
                                               JoinPointer(task_types_pointer, j) + ")"});
            break;
          }
        }
      }

      const std::string precision_pointer = JoinPointer(task_pointer, "precision");
      const json::value* precision_value = task->if_contains("precision");
      const json::string* precision = precision_value ? precision_value->if_string() : nullptr;
      if (precision_value == nullptr) {
        errors->push_back(
            {precision_pointer, "required precision is missing (\"4bit\", \"8bit\" or \"16bit\")"});
      } else if (precision == nullptr ||
                 !ParsePrecision(std::string_view(precision->data(), precision->size()),
                                 &task_type.precision)) {
        const std::string given =
            precision ? Quote(std::string_view(precision->data(), precision->size()))
                      : std::string(JsonKindName(*precision_value));
        errors->push_back(
            {precision_pointer, "expected \"4bit\", \"8bit\" or \"16bit\", got " + given});
      }

      if (const json::value* description = task->if_contains("description");
          description != nullptr && !description->is_string()) {
        errors->push_back({JoinPointer(task_pointer, "description"),
                           "expected a string, got " + std::string(JsonKindName(*description))});
      }

      for (std::string_view keyword : StringArray(*task, "keywords", task_pointer, errors)) {
        task_rules.keywords.push_back(MakeKeyword(keyword, mode));
        task_rules.keyword_ids.push_back(impl->keyword_index.Add(task_rules.keywords.back()));
      }
      impl->CompilePatterns(StringArray(*task, "patterns", task_pointer, errors),
                            JoinPointer(task_pointer, "patterns"), compile_context.get(),
                            &task_rules, errors);
      task_rules.keywords_count = KeywordsCount(task_type.id, mode);
      impl->task_types.push_back(std::move(task_type));
      impl->rules.push_back(std::move(task_rules));
    }
  }

  const std::string default_pointer = JoinPointer(pointer, "defaultTaskType");
  const auto find_task_type = [&impl](std::string_view id) -> int {
    for (size_t i = 0; i < impl->task_types.size(); ++i) {
      if (!impl->task_types[i].id.empty() && impl->task_types[i].id == id) {
        return static_cast<int>(i);
      }
    }
    return -1;
  };
  if (const json::value* default_value = object->if_contains("defaultTaskType")) {
    const json::string* default_id = default_value->if_string();
    if (default_id == nullptr) {
      errors->push_back(
          {default_pointer, "expected a string, got " + std::string(JsonKindName(*default_value))});
    } else {
      const std::string_view id(default_id->data(), default_id->size());
      impl->default_task_type = find_task_type(id);
      if (impl->default_task_type < 0 && task_types != nullptr && !task_types->empty()) {
        std::vector<std::string_view> ids;
        for (const TaskType& task_type : impl->task_types) ids.push_back(task_type.id);
        errors->push_back(
            {default_pointer, "names no task type: " + Quote(id) + DidYouMean(id, ids)});
      }
    }
  } else {
    impl->default_task_type = find_task_type("standard");
    if (impl->default_task_type < 0 && task_types != nullptr && !task_types->empty()) {
      errors->push_back({default_pointer, "required when no task type is named \"standard\""});
    }
  }

  if (const json::value* targets = object->if_contains("targets")) {
    impl->CompileTargets(*targets, JoinPointer(pointer, "targets"), errors);
  }

  // Improved mode holds system words to the keyword rules (whole tokens, plurals), so that
  // "capital" no longer names an API; faithful mode keeps the plugin's plain substring test.
  for (std::string_view hint : kSystemHints) {
    Keyword keyword = MakeKeyword(hint, mode);
    if (mode == TaskTypeMode::kFaithful && keyword.kind == KeywordKind::kToken) {
      keyword.kind = KeywordKind::kSubstring;
    }
    impl->system_hint_ids.push_back(impl->keyword_index.Add(keyword));
    impl->system_hints.push_back(std::move(keyword));
  }

  if (errors->size() != errors_before) return nullptr;
  impl->literals.Build();
  impl->keyword_index.Build();
  return std::shared_ptr<const TaskTypeDetector>(new TaskTypeDetector(std::move(impl)));
}

TaskTypeMatch TaskTypeDetector::Detect(std::string_view prompt) const {
  return Detect(prompt, true);
}

TaskTypeMatch TaskTypeDetector::DetectRunningEveryPattern(std::string_view prompt) const {
  return Detect(prompt, false);
}

TaskTypeMatch TaskTypeDetector::Detect(std::string_view prompt, bool fast) const {
  const Impl& impl = *impl_;
  TaskTypeMatch result;

  std::string sanitized;
  const std::string_view text = JsTrim(ReplaceInvalidUtf8(prompt, &sanitized));
  if (text.empty()) return result;  // the plugin passes an empty prompt through before any rule
  PatternMatcher matcher;

  // Keywords and the other "complex" tests only matter for short prompts, so a long prompt is never
  // lowercased or tokenized.
  bool complex = Utf16Length(text, kSimplePromptMaxLength) > kSimplePromptMaxLength;
  std::string lowered;
  TokenSet tokens;                               // the reference path's
  std::optional<KeywordIndex::Lookup> keywords;  // the fast path's
  const auto keyword_matches = [&](const Keyword& keyword, uint32_t id) {
    return fast ? keywords->Matches(id) : KeywordMatches(keyword, lowered, tokens);
  };
  if (!complex) {
    lowered = JsToLower(text);
    if (fast) keywords.emplace(impl.keyword_index, lowered);
    size_t begin = 0;
    size_t end = 0;
    const auto next_token = [&](size_t offset) {
      return fast ? NextToken(impl.tokenizer.get(), &matcher, lowered, offset, &begin, &end)
                  : matcher.Find(impl.tokenizer.get(), lowered, offset, &begin, &end);
    };
    for (size_t offset = 0; next_token(offset); offset = end) {
      const std::string_view token = std::string_view(lowered).substr(begin, end - begin);
      if (fast) {
        keywords->AddToken(token);
      } else if (IsRuleToken(token)) {
        tokens.insert(token);
      }
    }
    int system_hints = 0;
    for (size_t i = 0; i < impl.system_hints.size(); ++i) {
      system_hints += keyword_matches(impl.system_hints[i], impl.system_hint_ids[i]) ? 1 : 0;
    }
    complex = system_hints >= 2 || CountNumberedSteps(text) >= 2;
  }
  result.complex = complex;

  struct Candidate {
    int task_type;
    int score;
    int pattern_hits;
    int keyword_hits;
  };
  std::vector<Candidate> ranked;
  const std::string_view pattern_subject = CutAtUtf8Boundary(text, kPatternSubjectMaxBytes);
  const LiteralTable::Lookup literals(impl.literals, fast ? pattern_subject : "");
  for (size_t i = 0; i < impl.rules.size(); ++i) {
    const Impl::Rules& rules = impl.rules[i];
    Candidate candidate{static_cast<int>(i), 0, 0, 0};
    for (size_t p = 0; p < rules.patterns.size(); ++p) {
      if (fast && !literals.Holds(rules.pattern_literals[p])) continue;  // cannot match
      if (!matcher.Matches(rules.patterns[p], pattern_subject)) continue;
      candidate.score += kPatternPoints;
      ++candidate.pattern_hits;
    }
    if (!complex && rules.keywords_count) {
      for (size_t k = 0; k < rules.keywords.size(); ++k) {
        if (!keyword_matches(rules.keywords[k], rules.keyword_ids[k])) continue;
        candidate.score += rules.keywords[k].points;
        ++candidate.keyword_hits;
      }
    }
    if (candidate.pattern_hits == 0 && (complex || candidate.keyword_hits == 0)) continue;
    ranked.push_back(candidate);
  }
  result.pattern_budget_exhausted = matcher.budget_exhausted();
  // Stable, as Array#sort is: a full tie keeps config order.
  std::stable_sort(ranked.begin(), ranked.end(), [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.pattern_hits != b.pattern_hits) return a.pattern_hits > b.pattern_hits;
    return a.keyword_hits > b.keyword_hits;
  });
  if (ranked.empty()) return result;

  // On a decline these still describe the best-ranked candidate, for telemetry.
  const Candidate& best = ranked[0];
  result.score = best.score;
  result.runner_up_score = ranked.size() > 1 ? ranked[1].score : 0;
  result.pattern_hits = best.pattern_hits;
  result.keyword_hits = best.keyword_hits;
  const bool enough_evidence = best.pattern_hits > 0 || best.keyword_hits >= 2;
  if (enough_evidence && best.score >= kScoreThreshold &&
      best.score - result.runner_up_score >= kMarginThreshold) {
    result.task_type = best.task_type;
  }
  return result;
}

int TaskTypeDetector::task_type_count() const { return static_cast<int>(impl_->task_types.size()); }

const TaskTypeDetector::TaskType& TaskTypeDetector::task_type(int index) const {
  // An index from elsewhere must not throw or read out of bounds: it gets a task type with no id.
  static const TaskType kNoTaskType;
  if (index < 0 || index >= task_type_count()) return kNoTaskType;
  return impl_->task_types[static_cast<size_t>(index)];
}

int TaskTypeDetector::FindTaskType(std::string_view id) const {
  for (size_t i = 0; i < impl_->task_types.size(); ++i) {
    if (impl_->task_types[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

int TaskTypeDetector::default_task_type() const { return impl_->default_task_type; }

Precision TaskTypeDetector::ResolvePrecision(int task_type, bool* escalated) const {
  bool moved = false;
  // An index that names no task type (a declined detection) gets the top precision: the safe side.
  int precision = static_cast<int>(Precision::k16bit);
  if (task_type >= 0 && task_type < task_type_count()) {
    precision = static_cast<int>(impl_->task_types[static_cast<size_t>(task_type)].precision);
    // The plugin's getFallbackOrder: up, never down; 16bit is served even without a target (the
    // host then passes the request through).
    while (precision + 1 < kPrecisionCount &&
           !impl_->target_ready[static_cast<size_t>(precision)]) {
      ++precision;
      moved = true;
    }
  }
  if (escalated != nullptr) *escalated = moved;
  return static_cast<Precision>(precision);
}

}  // namespace quantclaw
