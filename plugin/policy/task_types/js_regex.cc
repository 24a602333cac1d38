#include "policy/task_types/js_regex.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/utf8.h"

namespace quantclaw {
namespace internal {
namespace {

// -------------------------------------------------------------------------------------------------
// Bounds on pattern matching. The plugin has none: its lookahead patterns are quadratic in the
// length of a line, and a 64 KiB single-line prompt keeps Node busy for most of a minute.
// The detector also cuts the subject (task_types.cc, kPatternSubjectMaxBytes).

// Per match attempt (one start position): PCRE2's own counters.
constexpr uint32_t kMatchLimit = 1'000'000;
constexpr uint32_t kDepthLimit = 10'000;
// PCRE2 applies the match limit to each start position separately, so a pattern that fails slowly
// at every position of a long line still costs (positions x limit), and per pcre2_match call, so
// many patterns add up. So every pattern we cannot prove linear is compiled with automatic
// callouts, the rewritten lookahead forms included (they used to escape any bound but PCRE2's),
// and one budget bounds the callouts (pattern items visited) of all the patterns of one message:
// some 20 ms of JIT-compiled matching. When it runs out, the search in progress and every pattern
// after it count as no match. It counts work, not time, so a message always gets the same decision.
// Proven linear (IsLinearBody) and run without callouts, which cost some 5 ns each: a pattern with
// no unbounded repeat, and a lookahead conjunction whose bodies have none.
constexpr uint64_t kMessageStepBudget = 3'000'000;
// The JIT's own stack, on the heap rather than the default 32 KiB block on the machine stack.
constexpr size_t kJitStackStartBytes = 32 * 1024;
constexpr size_t kJitStackMaxBytes = 1024 * 1024;

// JavaScript's regex semantics, as far as PCRE2 options reach: "iu" (UTF, Unicode properties,
// caseless); $ only at the very end; \uXXXX and \u{...} escapes; [] and [^] as empty and any-char
// classes; a backreference to an unset group matches the empty string. `.` is rewritten to stop at
// JavaScript's line terminators (see kJsDot); [\s\S] crosses them in both. What remains different:
// with PCRE2_UCP the classes \d, \w and \b are Unicode-aware where JavaScript's are ASCII-only
// (none of the plugin's patterns uses them), and a few PCRE2-only constructs are accepted where
// JavaScript would reject the pattern. \C is refused: it could split a UTF-8 character.
constexpr uint32_t kPatternOptions = PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS | PCRE2_DOLLAR_ENDONLY |
                                     PCRE2_ALT_BSUX | PCRE2_ALLOW_EMPTY_CLASS |
                                     PCRE2_MATCH_UNSET_BACKREF | PCRE2_NEVER_BACKSLASH_C;

// -------------------------------------------------------------------------------------------------
// Pattern rewriting: JavaScript's `.`, and lookahead conjunctions in linear time.
//
// Both rewrites need to know which characters of a pattern are syntax. The small scanner below
// understands JavaScript's regex syntax as PCRE2 reads it; on anything else (\Q...\E, verbs, inline
// options, comments, POSIX classes) it gives up and the pattern is used exactly as written.

// JavaScript's `.`: anything but its four line terminators. PCRE2's `.` (newline LF) stops at "\n"
// only, so a lone "\r" or U+2028 would otherwise be crossed where the plugin stops. Written with
// \u escapes because PCRE2_ALT_BSUX takes \x{...} for a literal "x".
constexpr std::string_view kJsDot = R"([^\n\r\u2028\u2029])";
// A line start in the same sense: the subject's start or just after a line terminator.
constexpr std::string_view kJsLineStart = R"((?<![^\n\r\u2028\u2029]))";

// Length of the escape sequence at pattern[pos] == '\\' that we can step over, or 0 if we cannot.
size_t EscapeLength(std::string_view pattern, size_t pos) {
  if (pos + 1 >= pattern.size()) return 0;
  switch (pattern[pos + 1]) {
    case 'Q':  // quoting: its text is not syntax
    case 'G':  // the start offset: rewriting moves it
      return 0;
    case 'c':  // control character: \c and one more character, which may be any
      return pos + 2 < pattern.size() ? 3 : 0;
    default:
      return 2;
  }
}

// Skips a character class that starts at pattern[pos] == '['; returns the index after its ']', or
// npos if the class is unterminated or uses a construct we do not parse.
size_t SkipCharacterClass(std::string_view pattern, size_t pos) {
  size_t i = pos + 1;
  if (i < pattern.size() && pattern[i] == '^') ++i;
  // PCRE2_ALLOW_EMPTY_CLASS: a ']' right after '[' or '[^' closes the class, as in JavaScript.
  if (i < pattern.size() && pattern[i] == ']') return i + 1;
  while (i < pattern.size()) {
    const char c = pattern[i];
    if (c == '\\') {
      const size_t length = EscapeLength(pattern, i);
      if (length == 0) return std::string_view::npos;
      i += length;
    } else if (c == '[' && i + 1 < pattern.size() &&
               (pattern[i + 1] == ':' || pattern[i + 1] == '.' || pattern[i + 1] == '=')) {
      return std::string_view::npos;
    } else if (c == ']') {
      return i + 1;
    } else {
      ++i;
    }
  }
  return std::string_view::npos;
}

// Whether a group opening at pattern[pos] == '(' is one JavaScript also has: (...), (?:...),
// lookaround, or a named group.
bool IsJsGroupOpening(std::string_view pattern, size_t pos) {
  if (pos + 1 >= pattern.size() || pattern[pos + 1] == '*') return false;  // unbalanced, or a verb
  if (pattern[pos + 1] != '?') return true;
  const char kind = pos + 2 < pattern.size() ? pattern[pos + 2] : '\0';
  const char after = pos + 3 < pattern.size() ? pattern[pos + 3] : '\0';
  if (kind == ':' || kind == '=' || kind == '!') return true;
  return kind == '<' && (after == '=' || after == '!' || after == '_' ||
                         (after >= 'a' && after <= 'z') || (after >= 'A' && after <= 'Z'));
}

// Rewrites each `.` that stands for "any character" as kJsDot. Returns false on syntax we do not
// parse.
bool TranslateDots(std::string_view pattern, std::string* out) {
  out->clear();
  size_t pos = 0;
  while (pos < pattern.size()) {
    const char c = pattern[pos];
    size_t length = 1;
    if (c == '\\') {
      length = EscapeLength(pattern, pos);
      if (length == 0) return false;
    } else if (c == '[') {
      const size_t end = SkipCharacterClass(pattern, pos);
      if (end == std::string_view::npos) return false;
      length = end - pos;
    } else if (c == '(' && !IsJsGroupOpening(pattern, pos)) {
      return false;
    } else if (c == '.') {
      *out += kJsDot;
      ++pos;
      continue;
    }
    out->append(pattern.substr(pos, length));
    pos += length;
  }
  return true;
}

// Lookahead conjunctions. 16 of the plugin's 31 patterns are a run of lookaheads `(?=.*X)` or
// `(?!.*X)` followed by `.*` (or `.*Y`). Run as written they are quadratic: every start position
// scans to the end of its line. Two facts make them linear without changing a single answer.
//
// With positive lookaheads only, just line starts need trying. A match at position p implies one at
// p's line start L: each `.*` can first run over [L, p) (no line terminator there, or `.` would not
// have passed it) and then back off from the line's end exactly as it would have from p, so it
// stops at the same place with the same captures.
//
// With negative ones too (and a bare `.*` after them): a positive `(?=.*X)` holds at the positions
// up to the last start of X in the line, a negative `(?!.*C)` at those after the last start of C.
// So a match exists iff the negatives hold at p*, the smallest of the positives' last starts. Tried
// from L, `(?=.*(X))` captures exactly X's last start (greedy `.*` backs off from the line's end);
// the negatives are then tried once, anchored at p*.
//
// Anything whose meaning could depend on the start position (alternation at the top of the pattern
// or of a lookahead, ^ and $, \G, verbs, inline options) keeps the general path.

// Scans a regex sequence from `pos` to the ')' that closes the group it is in (or to the end).
// Returns that position, or npos if the sequence has a top-level '|' or a construct we do not vouch
// for.
size_t ScanSequence(std::string_view pattern, size_t pos) {
  int depth = 0;
  while (pos < pattern.size()) {
    const char c = pattern[pos];
    if (c == '\\') {
      const size_t length = EscapeLength(pattern, pos);
      if (length == 0) return std::string_view::npos;
      pos += length;
    } else if (c == '[') {
      pos = SkipCharacterClass(pattern, pos);
      if (pos == std::string_view::npos) return pos;
    } else if (c == '(') {
      if (!IsJsGroupOpening(pattern, pos)) return std::string_view::npos;
      ++depth;
      ++pos;
    } else if (c == ')') {
      if (depth == 0) return pos;
      --depth;
      ++pos;
    } else if ((c == '|' && depth == 0) || c == '^' || c == '$') {
      return std::string_view::npos;
    } else {
      ++pos;
    }
  }
  return depth == 0 ? pos : std::string_view::npos;
}

// Whether the pattern numbers groups of its own or refers to them: the two-phase form adds
// capturing groups, which would renumber them.
bool HasCapturesOrBackreferences(std::string_view pattern) {
  size_t pos = 0;
  while (pos < pattern.size()) {
    const char c = pattern[pos];
    if (c == '\\') {
      const char escaped = pos + 1 < pattern.size() ? pattern[pos + 1] : '\0';
      if ((escaped >= '1' && escaped <= '9') || escaped == 'k' || escaped == 'g') return true;
      const size_t length = EscapeLength(pattern, pos);
      if (length == 0) return true;
      pos += length;
    } else if (c == '[') {
      pos = SkipCharacterClass(pattern, pos);
      if (pos == std::string_view::npos) return true;
    } else if (c == '(') {
      if (pos + 1 < pattern.size() && pattern[pos + 1] != '?') return true;
      if (pattern.compare(pos, 3, "(?<") == 0 && pos + 3 < pattern.size() &&
          pattern[pos + 3] != '=' && pattern[pos + 3] != '!') {
        return true;  // a named group
      }
      ++pos;
    } else {
      ++pos;
    }
  }
  return false;
}

// Whether matching `body` at one position costs a bound set by the body alone, whatever the
// subject: no unbounded repeat (*, +, {...}; ? is bounded) and no backreference, which can repeat a
// long capture. Such a pattern is linear in the subject, and so is a lookahead conjunction of such
// bodies: each line start runs each `.*X` over its own line once.
bool IsLinearBody(std::string_view body) {
  size_t pos = 0;
  while (pos < body.size()) {
    const char c = body[pos];
    if (c == '\\') {
      const char escaped = pos + 1 < body.size() ? body[pos + 1] : '\0';
      if ((escaped >= '1' && escaped <= '9') || escaped == 'k' || escaped == 'g') return false;
      const size_t length = EscapeLength(body, pos);
      if (length == 0) return false;
      pos += length;
    } else if (c == '[') {
      pos = SkipCharacterClass(body, pos);
      if (pos == std::string_view::npos) return false;
    } else if (c == '(' && !IsJsGroupOpening(body, pos)) {
      return false;
    } else if (c == '*' || c == '+' || c == '{') {
      return false;
    } else {
      ++pos;
    }
  }
  return true;
}

// A greedy `.*` at pattern[pos] (not `.*?`, `.*+` or `.*{`).
bool IsGreedyDotStar(std::string_view pattern, size_t pos) {
  if (pattern.compare(pos, 2, ".*") != 0) return false;
  return pos + 2 >= pattern.size() ||
         (pattern[pos + 2] != '?' && pattern[pos + 2] != '+' && pattern[pos + 2] != '{');
}

bool IsQuantifier(char c) { return c == '?' || c == '*' || c == '+' || c == '{'; }

struct LookaheadConjunction {
  struct Lookahead {
    bool negative;
    std::string_view body;  // X in (?=.*X) or (?!.*X)
  };
  std::vector<Lookahead> lookaheads;
  std::string_view rest;  // "" or a sequence starting with a greedy `.*`
  int positive_count = 0;
  int negative_count = 0;
};

// Parses `(?=.*X)(?!.*Y)....*Z`; nullopt for any other shape.
std::optional<LookaheadConjunction> ParseLookaheadConjunction(std::string_view pattern) {
  LookaheadConjunction conjunction;
  size_t pos = 0;
  while (pattern.compare(pos, 3, "(?=") == 0 || pattern.compare(pos, 3, "(?!") == 0) {
    if (!IsGreedyDotStar(pattern, pos + 3)) return std::nullopt;
    const size_t close = ScanSequence(pattern, pos + 3);
    if (close == std::string_view::npos || close >= pattern.size()) return std::nullopt;
    const bool negative = pattern[pos + 2] == '!';
    conjunction.lookaheads.push_back({negative, pattern.substr(pos + 5, close - (pos + 5))});
    ++(negative ? conjunction.negative_count : conjunction.positive_count);
    pos = close + 1;
    if (pos < pattern.size() && IsQuantifier(pattern[pos])) return std::nullopt;
  }
  if (conjunction.positive_count == 0) return std::nullopt;
  if (pos < pattern.size() &&
      (!IsGreedyDotStar(pattern, pos) || ScanSequence(pattern, pos) != pattern.size())) {
    return std::nullopt;
  }
  conjunction.rest = pattern.substr(pos);
  return conjunction;
}

// -------------------------------------------------------------------------------------------------
// PCRE2 plumbing.

struct JitStackDeleter {
  void operator()(pcre2_jit_stack* stack) const { pcre2_jit_stack_free(stack); }
};

// One JIT stack per thread: two matches must never share one, and one per match would cost an mmap
// each. Returning nullptr (allocation failed) makes PCRE2 use its 32 KiB machine-stack block.
pcre2_jit_stack* ThreadJitStack(void*) {
  thread_local std::unique_ptr<pcre2_jit_stack, JitStackDeleter> stack(
      pcre2_jit_stack_create(kJitStackStartBytes, kJitStackMaxBytes, nullptr));
  return stack.get();
}

// The callout of patterns compiled with PCRE2_AUTO_CALLOUT: one call per pattern item visited.
int CountPatternStep(pcre2_callout_block*, void* steps_left) {
  auto* remaining = static_cast<uint64_t*>(steps_left);
  if (*remaining == 0) return PCRE2_ERROR_CALLOUT;  // abandons the whole search
  --*remaining;
  return 0;
}

std::string Pcre2ErrorMessage(int error_code) {
  PCRE2_UCHAR buffer[256];
  const int length = pcre2_get_error_message(error_code, buffer, sizeof(buffer));
  if (length < 0) return "error " + std::to_string(error_code);
  return std::string(reinterpret_cast<const char*>(buffer), static_cast<size_t>(length));
}

// The most positive lookaheads the two-phase form takes: one capture each in the match data.
constexpr int kMaxConjunctionPositives = 15;

// The pattern with JavaScript's `.`, and in linear form if it is a lookahead conjunction; an empty
// result if it cannot be rewritten.
CompiledPattern CompileRewritten(std::string_view pattern, pcre2_compile_context* context) {
  std::string translated;
  if (!TranslateDots(pattern, &translated)) return {};
  const std::optional<LookaheadConjunction> conjunction = ParseLookaheadConjunction(pattern);
  if (!conjunction) {
    const uint32_t counted = IsLinearBody(pattern) ? 0 : PCRE2_AUTO_CALLOUT;
    return {CompileRegex(translated, kPatternOptions | counted, context, nullptr), nullptr};
  }
  bool linear = conjunction->rest.empty() || IsLinearBody(conjunction->rest.substr(2));
  for (const LookaheadConjunction::Lookahead& lookahead : conjunction->lookaheads) {
    linear = linear && IsLinearBody(lookahead.body);
  }
  const uint32_t counted = linear ? 0 : PCRE2_AUTO_CALLOUT;
  if (conjunction->negative_count == 0) {
    const std::string at_line_starts = std::string(kJsLineStart) + "(?:" + translated + ")";
    return {CompileRegex(at_line_starts, kPatternOptions | counted, context, nullptr), nullptr};
  }
  if ((conjunction->rest.empty() || conjunction->rest == ".*") &&
      conjunction->positive_count <= kMaxConjunctionPositives &&
      !HasCapturesOrBackreferences(pattern)) {
    std::string positives(kJsLineStart);
    std::string negatives;
    for (const LookaheadConjunction::Lookahead& lookahead : conjunction->lookaheads) {
      std::string body;
      if (!TranslateDots(lookahead.body, &body)) return {};
      if (lookahead.negative) {
        negatives += "(?!" + std::string(kJsDot) + "*(?:" + body + "))";
      } else {
        positives += "(?=" + std::string(kJsDot) + "*(" + body + "))";
      }
    }
    CompiledPattern two_phase{
        CompileRegex(positives, kPatternOptions | counted, context, nullptr),
        CompileRegex(negatives, kPatternOptions | PCRE2_ANCHORED | counted, context, nullptr)};
    if (two_phase.code != nullptr && two_phase.veto != nullptr) return two_phase;
    return {};
  }
  return {CompileRegex(translated, kPatternOptions | PCRE2_AUTO_CALLOUT, context, nullptr),
          nullptr};
}

}  // namespace

CompileContextPtr NewJsCompileContext() {
  CompileContextPtr context(pcre2_compile_context_create(nullptr));
  if (context == nullptr) return nullptr;
  pcre2_set_newline(context.get(), PCRE2_NEWLINE_LF);
  pcre2_set_compile_extra_options(context.get(), PCRE2_EXTRA_ALT_BSUX);
  return context;
}

CodePtr CompileRegex(std::string_view pattern, uint32_t options, pcre2_compile_context* context,
                     std::string* error) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  CodePtr code(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                             &error_code, &error_offset, context));
  if (code == nullptr) {
    if (error != nullptr) {
      *error = Pcre2ErrorMessage(error_code) + " at offset " + std::to_string(error_offset);
    }
    return nullptr;
  }
  return code;
}

void JitCompile(pcre2_code* code) {
  // Without JIT support (or memory for it) pcre2_match quietly uses the interpreter.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
}

CompiledPattern CompileJsPattern(std::string_view pattern, pcre2_compile_context* context,
                                 std::string* error) {
  // The pattern as written, with the step budget: what errors are reported against (their offsets
  // refer to the user's text) and what runs if no rewrite applies.
  CodePtr as_written = CompileRegex(pattern, kPatternOptions | PCRE2_AUTO_CALLOUT, context, error);
  if (as_written == nullptr) return {};
  CompiledPattern compiled = CompileRewritten(pattern, context);
  if (compiled.code == nullptr) compiled = CompiledPattern{std::move(as_written), nullptr};
  JitCompile(compiled.code.get());
  if (compiled.veto != nullptr) JitCompile(compiled.veto.get());
  return compiled;
}

PatternMatcher::PatternMatcher()
    : context_(pcre2_match_context_create(nullptr)),
      data_(pcre2_match_data_create(kMaxConjunctionPositives + 1, nullptr)),
      steps_left_(kMessageStepBudget) {
  if (context_ == nullptr) return;
  pcre2_set_match_limit(context_.get(), kMatchLimit);
  pcre2_set_depth_limit(context_.get(), kDepthLimit);
  pcre2_set_callout(context_.get(), &CountPatternStep, &steps_left_);
  pcre2_jit_stack_assign(context_.get(), &ThreadJitStack, nullptr);
}

bool PatternMatcher::Matches(const CompiledPattern& pattern, std::string_view subject) {
  if (budget_exhausted_) return false;
  if (pattern.veto != nullptr) return MatchesConjunction(pattern, subject);
  // 0 is a match too: one with more groups than the match data records.
  return Run(pattern.code.get(), subject, 0) >= 0;
}

bool PatternMatcher::Find(const pcre2_code* code, std::string_view subject, size_t offset,
                          size_t* begin, size_t* end) {
  if (Run(code, subject, offset) < 0) return false;
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data_.get());
  *begin = ovector[0];
  *end = ovector[1];
  return true;
}

int PatternMatcher::Run(const pcre2_code* code, std::string_view subject, size_t offset) {
  if (context_ == nullptr || data_ == nullptr) return PCRE2_ERROR_NOMEMORY;
  const int result = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(),
                                 offset, PCRE2_NO_UTF_CHECK, data_.get(), context_.get());
  if (result == PCRE2_ERROR_CALLOUT) budget_exhausted_ = true;  // only CountPatternStep fails so
  return result;
}

bool PatternMatcher::MatchesConjunction(const CompiledPattern& pattern, std::string_view subject) {
  size_t offset = 0;
  while (offset <= subject.size()) {
    const int found = Run(pattern.code.get(), subject, offset);
    if (found <= 0) return false;  // no match, an error, or captures we cannot read
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data_.get());
    const size_t line_start = ovector[0];
    size_t last_start = subject.size();
    for (int group = 1; group < found; ++group) {
      last_start = std::min(last_start, ovector[2 * group]);
    }
    const int vetoed = Run(pattern.veto.get(), subject, last_start);
    if (vetoed >= 0) return true;
    if (vetoed != PCRE2_ERROR_NOMATCH || line_start >= subject.size()) return false;
    offset = line_start + DecodeUtf8(subject, line_start).length;  // on to the next line start
  }
  return false;
}

}  // namespace internal
}  // namespace quantclaw
