// JavaScript regular expressions (new RegExp(pattern, "iu")) on PCRE2, for the QuantClaw rule
// detector's patterns: the options and rewrites that give PCRE2 JavaScript's semantics, and the bounds
// (match and depth limits, a step budget, a JIT stack on the heap) that keep a pattern from running
// away on a prompt. Compiled patterns are shared between threads; a PatternMatcher is one call's.
#ifndef QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_JS_REGEX_H_
#define QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_JS_REGEX_H_

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace quantclaw {
namespace internal {

struct CodeDeleter {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
struct CompileContextDeleter {
  void operator()(pcre2_compile_context* context) const { pcre2_compile_context_free(context); }
};
struct MatchContextDeleter {
  void operator()(pcre2_match_context* context) const { pcre2_match_context_free(context); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};
using CodePtr = std::unique_ptr<pcre2_code, CodeDeleter>;
using CompileContextPtr = std::unique_ptr<pcre2_compile_context, CompileContextDeleter>;
using MatchContextPtr = std::unique_ptr<pcre2_match_context, MatchContextDeleter>;
using MatchDataPtr = std::unique_ptr<pcre2_match_data, MatchDataDeleter>;

// A compile context with JavaScript's line terminator for `.` and $ (LF; `.` is rewritten for the
// others) and its \u escapes; null when out of memory.
CompileContextPtr NewJsCompileContext();

// A PCRE2 regex with these options; on failure null, and *error (when not null) says why and where.
CodePtr CompileRegex(std::string_view pattern, uint32_t options, pcre2_compile_context* context,
                     std::string* error);

void JitCompile(pcre2_code* code);

// A pattern ready to run: one regex, or the two phases of a lookahead conjunction.
struct CompiledPattern {
  CodePtr code;  // or: phase one, the positives with a capture at each one's last start in a line
  CodePtr veto;  // phase two, the negatives, anchored; null for a one-regex pattern
};

// A pattern as the plugin compiles it (flags "iu"), JIT-compiled, and in linear form where it is a
// lookahead conjunction. On a syntax error `code` is null and *error gives PCRE2's message and the
// offset in `pattern` as written.
CompiledPattern CompileJsPattern(std::string_view pattern, pcre2_compile_context* context,
                                 std::string* error);

// One message's matching state: the match context carries the address of the step budget that all
// patterns of the message share, so it cannot be shared between threads; compiled patterns can.
// Subjects must be valid UTF-8 (the detector passes them through ReplaceInvalidUtf8 first): PCRE2
// is told not to check them, a walk over the whole subject that every search used to repeat.
class PatternMatcher {
 public:
  PatternMatcher();
  PatternMatcher(const PatternMatcher&) = delete;
  PatternMatcher& operator=(const PatternMatcher&) = delete;

  // RegExp#test. Any error (a limit, the step budget, the JIT stack, out of memory) is no match,
  // and once the budget has run out so is every later pattern. `subject`: valid UTF-8.
  bool Matches(const CompiledPattern& pattern, std::string_view subject);

  bool budget_exhausted() const { return budget_exhausted_; }

  // The next match at or after `offset` (a character boundary of valid UTF-8), as [*begin, *end).
  bool Find(const pcre2_code* code, std::string_view subject, size_t offset, size_t* begin,
            size_t* end);

 private:
  // Always with PCRE2_NO_UTF_CHECK: see the class comment.
  int Run(const pcre2_code* code, std::string_view subject, size_t offset);

  // Line by line: phase one finds a line where every positive holds and where the last of them
  // starts (p*); phase two checks the negatives at p*.
  bool MatchesConjunction(const CompiledPattern& pattern, std::string_view subject);

  MatchContextPtr context_;
  MatchDataPtr data_;
  uint64_t steps_left_ = 0;
  bool budget_exhausted_ = false;
};

}  // namespace internal
}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_JS_REGEX_H_
