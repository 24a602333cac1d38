// The rule detector of the QuantClaw plugin for OpenClaw (SparkEngineAI/QuantClaw-plugin, commit
// 81f9f5770cd4, src/routers/quant.ts: detectTaskTypeByRules and its helpers), reproduced decision
// for decision. Where JavaScript semantics matter (trim, toLowerCase, String.length, regex flags
// "iu") the comments say how they are reproduced and where they are not.
#include "policy/task_types.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

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

#include "util/utf8.h"

namespace quantclaw {
namespace {

namespace json = boost::json;

// -------------------------------------------------------------------------------------------------
// The plugin's constants.

constexpr int kPatternPoints = 14;
constexpr int kPhraseKeywordPoints = 5;
constexpr int kWordKeywordPoints = 3;
constexpr int kScoreThreshold = 8;
constexpr int kMarginThreshold = 4;
constexpr size_t kSimplePromptMaxLength = 220;  // in UTF-16 code units, as JavaScript's .length

// RULE_STOP_WORDS, verbatim. One-character words are listed there too but are dropped by length.
constexpr std::string_view kStopWords[] = {"a",    "an",   "and",  "are",  "as",  "at",  "be",
                                           "by",   "for",  "from", "how",  "i",   "if",  "in",
                                           "into", "is",   "it",   "of",   "on",  "or",  "that",
                                           "the",  "this", "to",   "with", "you", "your"};

// COMPLEX_RULE_SYSTEM_HINTS, verbatim: naming two of these systems makes a prompt "complex".
constexpr std::string_view kSystemHints[] = {
    "email",          "inbox",    "邮件",           "收件箱",   "crm",
    "calendar",       "日历",     "knowledge base", "知识库",   "rss",
    "finance system", "财务系统", "inventory",      "库存",     "ticket",
    "工单",           "helpdesk", "scheduled job",  "定时任务", "api",
    "integration",    "集成",     "todo",           "待办"};

// SIMPLE_RULE_ALLOWED_TASK_IDS, verbatim. It is a fixed list of ids, not "all but a few": keywords
// of a task type whose id is not listed here (a user's own task type included) never count.
constexpr std::string_view kKeywordTaskIds[] = {
    "research",      "knowledge",   "content",       "rewriting", "coding",
    "multimodal",    "procurement", "communication", "finance",   "data_analysis",
    "security",      "compliance",  "safety",        "terminal",  "file_ops",
    "comprehension", "memory",      "organization",  "synthesis", "operations"};

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

// -------------------------------------------------------------------------------------------------
// Bounds on pattern matching. The plugin has none: its lookahead patterns are quadratic in the
// length of a line, and a 64 KiB single-line prompt keeps Node busy for most of a minute.

// Patterns see only the first 64 KiB of the prompt (cut back to a UTF-8 boundary), which bounds
// what one pattern can cost on a huge paste. The plugin has no cap, so a phrase that appears only
// past the first 64 KiB can be decided differently.
constexpr size_t kPatternSubjectMaxBytes = 64 * 1024;
// Per match attempt (one start position): PCRE2's own counters.
constexpr uint32_t kMatchLimit = 1'000'000;
constexpr uint32_t kDepthLimit = 10'000;
// PCRE2 applies the match limit to each start position separately, so a pattern that fails slowly
// at every position of a long line still costs (positions x limit). Patterns we cannot prove linear
// are compiled with automatic callouts, and this bounds the callouts (pattern items visited) of one
// search over the whole subject: some 50 to 100 ms of JIT-compiled matching. A search that runs
// out counts as no match. It counts work, not time, so a prompt always gets the same decision.
constexpr uint64_t kPatternStepBudget = 10'000'000;
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
// The JavaScript string functions the plugin calls, on valid UTF-8: the prompt and keywords pass
// through ReplaceInvalidUtf8 first, so lowercasing, tokenizing and PCRE2 see valid UTF-8. PCRE2's own
// UTF check stays on as a second line: were it ever to fail, the pattern counts as no match.

// JavaScript's WhiteSpace and LineTerminator: what String#trim strips and what \s matches.
bool IsJsWhitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000 || c == 0xFEFF;
}

std::string_view JsTrim(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    DecodedCodePoint decoded = DecodeUtf8(text, begin);
    if (!IsJsWhitespace(decoded.code_point)) break;
    begin += decoded.length;
  }
  size_t end = text.size();
  while (end > begin) {
    size_t start = PreviousCodePointStart(text, end);
    if (!IsJsWhitespace(DecodeUtf8(text, start).code_point)) break;
    end = start;
  }
  return text.substr(begin, end - begin);
}

// JavaScript's String#length counts UTF-16 code units: a character outside the BMP counts twice.
// Counting stops past `limit`, so a huge prompt is not walked twice.
size_t Utf16Length(std::string_view text, size_t limit = SIZE_MAX) {
  size_t length = 0;
  for (size_t pos = 0; pos < text.size() && length <= limit;) {
    DecodedCodePoint decoded = DecodeUtf8(text, pos);
    length += decoded.code_point >= 0x10000 ? 2 : 1;
    pos += decoded.length;
  }
  return length;
}

// Runs of code points that lowercase by a fixed offset: every code point in [first, last] (every
// second one when stride is 2) maps to code_point + delta. Generated from Node 20's
// String#toLowerCase (Unicode 17), the runtime the plugin runs on.
struct LowercaseRun {
  char32_t first;
  char32_t last;
  int32_t delta;
  uint8_t stride;
};

// clang-format off
constexpr LowercaseRun kLowercaseRuns[] = {
    {0x0041, 0x005A, 32, 1}, {0x00C0, 0x00D6, 32, 1}, {0x00D8, 0x00DE, 32, 1},
    {0x0100, 0x012E, 1, 2}, {0x0132, 0x0136, 1, 2}, {0x0139, 0x0147, 1, 2}, {0x014A, 0x0176, 1, 2},
    {0x0178, 0x0178, -121, 1}, {0x0179, 0x017D, 1, 2}, {0x0181, 0x0181, 210, 1},
    {0x0182, 0x0184, 1, 2}, {0x0186, 0x0186, 206, 1}, {0x0187, 0x0187, 1, 1},
    {0x0189, 0x018A, 205, 1}, {0x018B, 0x018B, 1, 1}, {0x018E, 0x018E, 79, 1},
    {0x018F, 0x018F, 202, 1}, {0x0190, 0x0190, 203, 1}, {0x0191, 0x0191, 1, 1},
    {0x0193, 0x0193, 205, 1}, {0x0194, 0x0194, 207, 1}, {0x0196, 0x0196, 211, 1},
    {0x0197, 0x0197, 209, 1}, {0x0198, 0x0198, 1, 1}, {0x019C, 0x019C, 211, 1},
    {0x019D, 0x019D, 213, 1}, {0x019F, 0x019F, 214, 1}, {0x01A0, 0x01A4, 1, 2},
    {0x01A6, 0x01A6, 218, 1}, {0x01A7, 0x01A7, 1, 1}, {0x01A9, 0x01A9, 218, 1},
    {0x01AC, 0x01AC, 1, 1}, {0x01AE, 0x01AE, 218, 1}, {0x01AF, 0x01AF, 1, 1},
    {0x01B1, 0x01B2, 217, 1}, {0x01B3, 0x01B5, 1, 2}, {0x01B7, 0x01B7, 219, 1},
    {0x01B8, 0x01B8, 1, 1}, {0x01BC, 0x01BC, 1, 1}, {0x01C4, 0x01C4, 2, 1}, {0x01C5, 0x01C5, 1, 1},
    {0x01C7, 0x01C7, 2, 1}, {0x01C8, 0x01C8, 1, 1}, {0x01CA, 0x01CA, 2, 1}, {0x01CB, 0x01DB, 1, 2},
    {0x01DE, 0x01EE, 1, 2}, {0x01F1, 0x01F1, 2, 1}, {0x01F2, 0x01F4, 1, 2},
    {0x01F6, 0x01F6, -97, 1}, {0x01F7, 0x01F7, -56, 1}, {0x01F8, 0x021E, 1, 2},
    {0x0220, 0x0220, -130, 1}, {0x0222, 0x0232, 1, 2}, {0x023A, 0x023A, 10795, 1},
    {0x023B, 0x023B, 1, 1}, {0x023D, 0x023D, -163, 1}, {0x023E, 0x023E, 10792, 1},
    {0x0241, 0x0241, 1, 1}, {0x0243, 0x0243, -195, 1}, {0x0244, 0x0244, 69, 1},
    {0x0245, 0x0245, 71, 1}, {0x0246, 0x024E, 1, 2}, {0x0370, 0x0372, 1, 2}, {0x0376, 0x0376, 1, 1},
    {0x037F, 0x037F, 116, 1}, {0x0386, 0x0386, 38, 1}, {0x0388, 0x038A, 37, 1},
    {0x038C, 0x038C, 64, 1}, {0x038E, 0x038F, 63, 1}, {0x0391, 0x03A1, 32, 1},
    {0x03A3, 0x03AB, 32, 1}, {0x03CF, 0x03CF, 8, 1}, {0x03D8, 0x03EE, 1, 2},
    {0x03F4, 0x03F4, -60, 1}, {0x03F7, 0x03F7, 1, 1}, {0x03F9, 0x03F9, -7, 1},
    {0x03FA, 0x03FA, 1, 1}, {0x03FD, 0x03FF, -130, 1}, {0x0400, 0x040F, 80, 1},
    {0x0410, 0x042F, 32, 1}, {0x0460, 0x0480, 1, 2}, {0x048A, 0x04BE, 1, 2},
    {0x04C0, 0x04C0, 15, 1}, {0x04C1, 0x04CD, 1, 2}, {0x04D0, 0x052E, 1, 2},
    {0x0531, 0x0556, 48, 1}, {0x10A0, 0x10C5, 7264, 1}, {0x10C7, 0x10C7, 7264, 1},
    {0x10CD, 0x10CD, 7264, 1}, {0x13A0, 0x13EF, 38864, 1}, {0x13F0, 0x13F5, 8, 1},
    {0x1C89, 0x1C89, 1, 1}, {0x1C90, 0x1CBA, -3008, 1}, {0x1CBD, 0x1CBF, -3008, 1},
    {0x1E00, 0x1E94, 1, 2}, {0x1E9E, 0x1E9E, -7615, 1}, {0x1EA0, 0x1EFE, 1, 2},
    {0x1F08, 0x1F0F, -8, 1}, {0x1F18, 0x1F1D, -8, 1}, {0x1F28, 0x1F2F, -8, 1},
    {0x1F38, 0x1F3F, -8, 1}, {0x1F48, 0x1F4D, -8, 1}, {0x1F59, 0x1F5F, -8, 2},
    {0x1F68, 0x1F6F, -8, 1}, {0x1F88, 0x1F8F, -8, 1}, {0x1F98, 0x1F9F, -8, 1},
    {0x1FA8, 0x1FAF, -8, 1}, {0x1FB8, 0x1FB9, -8, 1}, {0x1FBA, 0x1FBB, -74, 1},
    {0x1FBC, 0x1FBC, -9, 1}, {0x1FC8, 0x1FCB, -86, 1}, {0x1FCC, 0x1FCC, -9, 1},
    {0x1FD8, 0x1FD9, -8, 1}, {0x1FDA, 0x1FDB, -100, 1}, {0x1FE8, 0x1FE9, -8, 1},
    {0x1FEA, 0x1FEB, -112, 1}, {0x1FEC, 0x1FEC, -7, 1}, {0x1FF8, 0x1FF9, -128, 1},
    {0x1FFA, 0x1FFB, -126, 1}, {0x1FFC, 0x1FFC, -9, 1}, {0x2126, 0x2126, -7517, 1},
    {0x212A, 0x212A, -8383, 1}, {0x212B, 0x212B, -8262, 1}, {0x2132, 0x2132, 28, 1},
    {0x2160, 0x216F, 16, 1}, {0x2183, 0x2183, 1, 1}, {0x24B6, 0x24CF, 26, 1},
    {0x2C00, 0x2C2F, 48, 1}, {0x2C60, 0x2C60, 1, 1}, {0x2C62, 0x2C62, -10743, 1},
    {0x2C63, 0x2C63, -3814, 1}, {0x2C64, 0x2C64, -10727, 1}, {0x2C67, 0x2C6B, 1, 2},
    {0x2C6D, 0x2C6D, -10780, 1}, {0x2C6E, 0x2C6E, -10749, 1}, {0x2C6F, 0x2C6F, -10783, 1},
    {0x2C70, 0x2C70, -10782, 1}, {0x2C72, 0x2C72, 1, 1}, {0x2C75, 0x2C75, 1, 1},
    {0x2C7E, 0x2C7F, -10815, 1}, {0x2C80, 0x2CE2, 1, 2}, {0x2CEB, 0x2CED, 1, 2},
    {0x2CF2, 0x2CF2, 1, 1}, {0xA640, 0xA66C, 1, 2}, {0xA680, 0xA69A, 1, 2}, {0xA722, 0xA72E, 1, 2},
    {0xA732, 0xA76E, 1, 2}, {0xA779, 0xA77B, 1, 2}, {0xA77D, 0xA77D, -35332, 1},
    {0xA77E, 0xA786, 1, 2}, {0xA78B, 0xA78B, 1, 1}, {0xA78D, 0xA78D, -42280, 1},
    {0xA790, 0xA792, 1, 2}, {0xA796, 0xA7A8, 1, 2}, {0xA7AA, 0xA7AA, -42308, 1},
    {0xA7AB, 0xA7AB, -42319, 1}, {0xA7AC, 0xA7AC, -42315, 1}, {0xA7AD, 0xA7AD, -42305, 1},
    {0xA7AE, 0xA7AE, -42308, 1}, {0xA7B0, 0xA7B0, -42258, 1}, {0xA7B1, 0xA7B1, -42282, 1},
    {0xA7B2, 0xA7B2, -42261, 1}, {0xA7B3, 0xA7B3, 928, 1}, {0xA7B4, 0xA7C2, 1, 2},
    {0xA7C4, 0xA7C4, -48, 1}, {0xA7C5, 0xA7C5, -42307, 1}, {0xA7C6, 0xA7C6, -35384, 1},
    {0xA7C7, 0xA7C9, 1, 2}, {0xA7CB, 0xA7CB, -42343, 1}, {0xA7CC, 0xA7DA, 1, 2},
    {0xA7DC, 0xA7DC, -42561, 1}, {0xA7F5, 0xA7F5, 1, 1}, {0xFF21, 0xFF3A, 32, 1},
    {0x10400, 0x10427, 40, 1}, {0x104B0, 0x104D3, 40, 1}, {0x10570, 0x1057A, 39, 1},
    {0x1057C, 0x1058A, 39, 1}, {0x1058C, 0x10592, 39, 1}, {0x10594, 0x10595, 39, 1},
    {0x10C80, 0x10CB2, 64, 1}, {0x10D50, 0x10D65, 32, 1}, {0x118A0, 0x118BF, 32, 1},
    {0x16E40, 0x16E5F, 32, 1}, {0x16EA0, 0x16EB8, 27, 1}, {0x1E900, 0x1E921, 34, 1},
};
// clang-format on

char32_t LowercaseCodePoint(char32_t c) {
  const auto run =
      std::upper_bound(std::begin(kLowercaseRuns), std::end(kLowercaseRuns), c,
                       [](char32_t value, const LowercaseRun& r) { return value < r.first; });
  if (run == std::begin(kLowercaseRuns)) return c;
  const LowercaseRun& candidate = *std::prev(run);
  if (c > candidate.last || (c - candidate.first) % candidate.stride != 0) return c;
  return static_cast<char32_t>(static_cast<int32_t>(c) + candidate.delta);
}

// String#toLowerCase on valid UTF-8. Not reproduced: the context-sensitive Greek final sigma (a
// word-final "Σ" lowers to "σ" here, to "ς" in JavaScript); only a Greek keyword could notice.
std::string JsToLower(std::string_view text) {
  std::string lowered;
  lowered.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const unsigned char byte = static_cast<unsigned char>(text[pos]);
    if (byte < 0x80) {
      lowered.push_back(static_cast<char>(byte >= 'A' && byte <= 'Z' ? byte + ('a' - 'A') : byte));
      ++pos;
      continue;
    }
    DecodedCodePoint decoded = DecodeUtf8(text, pos);
    if (decoded.code_point == 0x130) {
      lowered += "i\u0307";  // the one code point whose lowercase is two (SpecialCasing.txt)
    } else {
      AppendUtf8(LowercaseCodePoint(decoded.code_point), &lowered);
    }
    pos += decoded.length;
  }
  return lowered;
}

// The plugin's /[\u4e00-\u9fff]/: CJK Unified Ideographs, the basic block only.
bool IsCjkIdeograph(char32_t c) { return c >= 0x4E00 && c <= 0x9FFF; }

bool ContainsCjkIdeograph(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    DecodedCodePoint decoded = DecodeUtf8(text, pos);
    if (IsCjkIdeograph(decoded.code_point)) return true;
    pos += decoded.length;
  }
  return false;
}

// The plugin's isPhraseLikeKeyword: /[\u4e00-\u9fff]{2,}/ (two adjacent ideographs) or /\s/.
bool IsPhraseLike(std::string_view keyword) {
  bool previous_was_cjk = false;
  for (size_t pos = 0; pos < keyword.size();) {
    DecodedCodePoint decoded = DecodeUtf8(keyword, pos);
    if (IsJsWhitespace(decoded.code_point)) return true;
    const bool is_cjk = IsCjkIdeograph(decoded.code_point);
    if (is_cjk && previous_was_cjk) return true;
    previous_was_cjk = is_cjk;
    pos += decoded.length;
  }
  return false;
}

// The plugin's /(?:^|\n)\s*\d+\./g, counted: a run of ASCII digits and a period at the start of the
// prompt or of a line, after optional whitespace (which may span blank lines).
int CountNumberedSteps(std::string_view text) {
  // Tries `\s*\d+\.` at `pos`; on success returns where the match ends.
  const auto step_at = [text](size_t pos, size_t* end) {
    while (pos < text.size()) {
      DecodedCodePoint decoded = DecodeUtf8(text, pos);
      if (!IsJsWhitespace(decoded.code_point)) break;
      pos += decoded.length;
    }
    size_t digits_end = pos;
    while (digits_end < text.size() && text[digits_end] >= '0' && text[digits_end] <= '9')
      ++digits_end;
    if (digits_end == pos || digits_end >= text.size() || text[digits_end] != '.') return false;
    *end = digits_end + 1;
    return true;
  };
  int steps = 0;
  size_t search_from = 0;
  size_t end = 0;
  if (step_at(0, &end)) {
    ++steps;
    search_from = end;
  }
  // Matches do not overlap: after one, the global search resumes where it ended.
  for (size_t newline = text.find('\n', search_from); newline != std::string_view::npos;
       newline = text.find('\n', search_from)) {
    if (step_at(newline + 1, &end)) {
      ++steps;
      search_from = end;
    } else {
      search_from = newline + 1;
    }
  }
  return steps;
}

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
struct JitStackDeleter {
  void operator()(pcre2_jit_stack* stack) const { pcre2_jit_stack_free(stack); }
};
using CodePtr = std::unique_ptr<pcre2_code, CodeDeleter>;
using CompileContextPtr = std::unique_ptr<pcre2_compile_context, CompileContextDeleter>;
using MatchContextPtr = std::unique_ptr<pcre2_match_context, MatchContextDeleter>;
using MatchDataPtr = std::unique_ptr<pcre2_match_data, MatchDataDeleter>;

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

// The most positive lookaheads the two-phase form takes: one capture each in the match data.
constexpr int kMaxConjunctionPositives = 15;

// A pattern ready to run: one regex, or the two phases of a lookahead conjunction.
struct CompiledPattern {
  CodePtr code;  // or: phase one, the positives with a capture at each one's last start in a line
  CodePtr veto;  // phase two, the negatives, anchored; null for a one-regex pattern
};

// Per-call matching state: the match context carries the step budget's address, so it cannot be
// shared between threads; compiled patterns can.
class PatternMatcher {
 public:
  PatternMatcher()
      : context_(pcre2_match_context_create(nullptr)),
        data_(pcre2_match_data_create(kMaxConjunctionPositives + 1, nullptr)) {
    if (context_ == nullptr) return;
    pcre2_set_match_limit(context_.get(), kMatchLimit);
    pcre2_set_depth_limit(context_.get(), kDepthLimit);
    pcre2_set_callout(context_.get(), &CountPatternStep, &steps_left_);
    pcre2_jit_stack_assign(context_.get(), &ThreadJitStack, nullptr);
  }
  PatternMatcher(const PatternMatcher&) = delete;
  PatternMatcher& operator=(const PatternMatcher&) = delete;

  // RegExp#test. Any error (a limit, the step budget, the JIT stack, out of memory) is no match.
  bool Matches(const CompiledPattern& pattern, std::string_view subject) {
    if (pattern.veto != nullptr) return MatchesConjunction(pattern, subject);
    steps_left_ = kPatternStepBudget;
    // 0 is a match too: one with more groups than the match data records.
    return Run(pattern.code.get(), subject, 0, 0) >= 0;
  }

  // The next match at or after `offset`, as [*begin, *end).
  bool Find(const pcre2_code* code, std::string_view subject, size_t offset, size_t* begin,
            size_t* end) {
    if (Run(code, subject, offset, offset == 0 ? 0 : PCRE2_NO_UTF_CHECK) < 0) return false;
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data_.get());
    *begin = ovector[0];
    *end = ovector[1];
    return true;
  }

 private:
  // PCRE2 checks the subject's UTF-8 from `offset` to the end on every call, so calls that walk
  // through a subject already checked pass PCRE2_NO_UTF_CHECK, as pcre2api advises: a check per
  // line would make the walk quadratic.
  int Run(const pcre2_code* code, std::string_view subject, size_t offset, uint32_t options) {
    if (context_ == nullptr || data_ == nullptr) return PCRE2_ERROR_NOMEMORY;
    return pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), offset,
                       options, data_.get(), context_.get());
  }

  // Line by line: phase one finds a line where every positive holds and where the last of them
  // starts (p*); phase two checks the negatives at p*.
  bool MatchesConjunction(const CompiledPattern& pattern, std::string_view subject) {
    size_t offset = 0;
    while (offset <= subject.size()) {
      const int found =
          Run(pattern.code.get(), subject, offset, offset == 0 ? 0 : PCRE2_NO_UTF_CHECK);
      if (found <= 0) return false;  // no match, an error, or captures we cannot read
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data_.get());
      const size_t line_start = ovector[0];
      size_t last_start = subject.size();
      for (int group = 1; group < found; ++group) {
        last_start = std::min(last_start, ovector[2 * group]);
      }
      const int vetoed = Run(pattern.veto.get(), subject, last_start, PCRE2_NO_UTF_CHECK);
      if (vetoed >= 0) return true;
      if (vetoed != PCRE2_ERROR_NOMATCH || line_start >= subject.size()) return false;
      offset = line_start + DecodeUtf8(subject, line_start).length;  // on to the next line start
    }
    return false;
  }

  MatchContextPtr context_;
  MatchDataPtr data_;
  uint64_t steps_left_ = 0;
};

// -------------------------------------------------------------------------------------------------
// Keywords.

enum class KeywordKind : uint8_t {
  kNever,      // empty after trimming
  kSubstring,  // has a CJK ideograph or a space: a substring of the lowercased prompt
  kToken,      // anything else: equal to a token of the prompt
};

struct Keyword {
  KeywordKind kind = KeywordKind::kNever;
  std::string text;                      // lowercased and trimmed
  std::vector<std::string> token_forms;  // kToken: the tokens that count as this keyword
  int points = 0;
};

// The plugin's matchesRuleKeyword and isPhraseLikeKeyword, decided once per keyword.
Keyword MakeKeyword(std::string_view raw, TaskTypeMode mode) {
  std::string storage;
  std::string_view valid = ReplaceInvalidUtf8(raw, &storage);
  Keyword keyword;
  keyword.text = std::string(JsTrim(JsToLower(valid)));
  if (keyword.text.empty()) return keyword;
  keyword.points = IsPhraseLike(keyword.text) ? kPhraseKeywordPoints : kWordKeywordPoints;
  // The plugin asks includes(" "): only a plain space makes a substring keyword.
  if (ContainsCjkIdeograph(keyword.text) || keyword.text.find(' ') != std::string::npos) {
    keyword.kind = KeywordKind::kSubstring;
    return keyword;
  }
  keyword.kind = KeywordKind::kToken;
  keyword.token_forms.push_back(keyword.text);
  if (mode == TaskTypeMode::kImproved) {
    // Improved: a plural counts ("suppliers" for "supplier", "taxes" for "tax"). Only these two
    // endings: the plugin's whole-token rule stays otherwise, so "coder" is still not "code".
    keyword.token_forms.push_back(keyword.text + "s");
    keyword.token_forms.push_back(keyword.text + "es");
  }
  return keyword;
}

using TokenSet = std::unordered_set<std::string_view>;

bool KeywordMatches(const Keyword& keyword, std::string_view lowered_prompt,
                    const TokenSet& tokens) {
  switch (keyword.kind) {
    case KeywordKind::kNever:
      return false;
    case KeywordKind::kSubstring:
      return lowered_prompt.find(keyword.text) != std::string_view::npos;
    case KeywordKind::kToken:
      for (const std::string& form : keyword.token_forms) {
        if (tokens.count(form) != 0) return true;
      }
      return false;
  }
  return false;
}

// -------------------------------------------------------------------------------------------------
// Config validation helpers.

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

template <typename Candidates>
std::string Suggestion(std::string_view given, const Candidates& candidates) {
  return DidYouMean(given, std::vector<std::string_view>(std::begin(candidates), std::end(candidates)));
}

template <typename Keys>
void ReportUnknownKeys(const json::object& object, const Keys& known, const std::string& pointer,
                       ConfigErrors* errors) {
  for (const auto& entry : object) {
    const std::string_view key = entry.key();
    if (std::find(std::begin(known), std::end(known), key) != std::end(known)) continue;
    errors->push_back(
        {JoinPointer(pointer, key), "unknown key " + Quote(key) + Suggestion(key, known)});
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
    std::vector<Keyword> keywords;
    bool keywords_count = false;  // on the plugin's allow-list
  };

  TaskTypeMode mode = TaskTypeMode::kImproved;
  std::vector<TaskType> task_types;
  std::vector<Rules> rules;  // parallel to task_types
  std::vector<Keyword> system_hints;
  int default_task_type = -1;
  // Whether targets[precision] names both a provider and a model.
  std::array<bool, kPrecisionCount> target_ready = {false, false, false};
  CodePtr tokenizer;

  void CompilePatterns(const std::vector<std::string_view>& patterns, const std::string& pointer,
                       pcre2_compile_context* context, Rules* task_rules, ConfigErrors* errors);
  static CompiledPattern CompileRewritten(std::string_view pattern, pcre2_compile_context* context);
  void CompileTargets(const json::value& targets, const std::string& pointer, ConfigErrors* errors);
};

void TaskTypeDetector::Impl::CompilePatterns(const std::vector<std::string_view>& patterns,
                                             const std::string& pointer,
                                             pcre2_compile_context* context, Rules* task_rules,
                                             ConfigErrors* errors) {
  for (size_t i = 0; i < patterns.size(); ++i) {
    const std::string_view pattern = patterns[i];
    // The pattern as written, with the step budget: what errors are reported against (their offsets
    // refer to the user's text) and what runs if no rewrite applies.
    std::string error;
    CodePtr as_written =
        CompileRegex(pattern, kPatternOptions | PCRE2_AUTO_CALLOUT, context, &error);
    if (as_written == nullptr) {
      errors->push_back({JoinPointer(pointer, i), "invalid regular expression: " + error});
      continue;
    }
    CompiledPattern compiled = CompileRewritten(pattern, context);
    if (compiled.code == nullptr) compiled = CompiledPattern{std::move(as_written), nullptr};
    JitCompile(compiled.code.get());
    if (compiled.veto != nullptr) JitCompile(compiled.veto.get());
    task_rules->patterns.push_back(std::move(compiled));
  }
}

// The pattern with JavaScript's `.`, and in linear form if it is a lookahead conjunction; an empty
// result if it cannot be rewritten.
CompiledPattern TaskTypeDetector::Impl::CompileRewritten(std::string_view pattern,
                                                         pcre2_compile_context* context) {
  std::string translated;
  if (!TranslateDots(pattern, &translated)) return {};
  const std::optional<LookaheadConjunction> conjunction = ParseLookaheadConjunction(pattern);
  if (conjunction && conjunction->negative_count == 0) {
    const std::string at_line_starts = std::string(kJsLineStart) + "(?:" + translated + ")";
    return {CompileRegex(at_line_starts, kPatternOptions, context, nullptr), nullptr};
  }
  if (conjunction && (conjunction->rest.empty() || conjunction->rest == ".*") &&
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
        CompileRegex(positives, kPatternOptions, context, nullptr),
        CompileRegex(negatives, kPatternOptions | PCRE2_ANCHORED, context, nullptr)};
    if (two_phase.code != nullptr && two_phase.veto != nullptr) return two_phase;
    return {};
  }
  return {CompileRegex(translated, kPatternOptions | PCRE2_AUTO_CALLOUT, context, nullptr),
          nullptr};
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

  CompileContextPtr compile_context(pcre2_compile_context_create(nullptr));
  if (compile_context == nullptr) {
    errors->push_back({pointer, "out of memory compiling patterns"});
    return nullptr;
  }
  pcre2_set_newline(compile_context.get(), PCRE2_NEWLINE_LF);
  pcre2_set_compile_extra_options(compile_context.get(), PCRE2_EXTRA_ALT_BSUX);

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
      }
      impl->CompilePatterns(StringArray(*task, "patterns", task_pointer, errors),
                            JoinPointer(task_pointer, "patterns"), compile_context.get(),
                            &task_rules, errors);
      task_rules.keywords_count = std::find(std::begin(kKeywordTaskIds), std::end(kKeywordTaskIds),
                                            task_type.id) != std::end(kKeywordTaskIds);
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
            {default_pointer, "names no task type: " + Quote(id) + Suggestion(id, ids)});
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
    impl->system_hints.push_back(std::move(keyword));
  }

  if (errors->size() != errors_before) return nullptr;
  return std::shared_ptr<const TaskTypeDetector>(new TaskTypeDetector(std::move(impl)));
}

TaskTypeMatch TaskTypeDetector::Detect(std::string_view prompt) const {
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
  TokenSet tokens;
  if (!complex) {
    lowered = JsToLower(text);
    size_t begin = 0;
    size_t end = 0;
    for (size_t offset = 0; matcher.Find(impl.tokenizer.get(), lowered, offset, &begin, &end);
         offset = end) {
      const std::string_view token = std::string_view(lowered).substr(begin, end - begin);
      if (Utf16Length(token) < 2) continue;
      if (std::find(std::begin(kStopWords), std::end(kStopWords), token) != std::end(kStopWords)) {
        continue;
      }
      tokens.insert(token);
    }
    int system_hints = 0;
    for (const Keyword& hint : impl.system_hints) {
      system_hints += KeywordMatches(hint, lowered, tokens) ? 1 : 0;
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
  for (size_t i = 0; i < impl.rules.size(); ++i) {
    const Impl::Rules& rules = impl.rules[i];
    Candidate candidate{static_cast<int>(i), 0, 0, 0};
    for (const CompiledPattern& pattern : rules.patterns) {
      if (!matcher.Matches(pattern, pattern_subject)) continue;
      candidate.score += kPatternPoints;
      ++candidate.pattern_hits;
    }
    if (!complex && rules.keywords_count) {
      for (const Keyword& keyword : rules.keywords) {
        if (!KeywordMatches(keyword, lowered, tokens)) continue;
        candidate.score += keyword.points;
        ++candidate.keyword_hits;
      }
    }
    if (candidate.pattern_hits == 0 && (complex || candidate.keyword_hits == 0)) continue;
    ranked.push_back(candidate);
  }
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
