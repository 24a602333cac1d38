// The JavaScript string functions the QuantClaw plugin's rule detector calls (String#trim,
// String#toLowerCase, String#length and the small regexes its keyword rules use), reproduced on UTF-8.
// Each takes valid UTF-8: the detector passes prompts and keywords through ReplaceInvalidUtf8
// (util/utf8.h) first, as Node would have decoded them.
#ifndef QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_JS_TEXT_H_
#define QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_JS_TEXT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace quantclaw {
namespace internal {

// String#trim: strips JavaScript's WhiteSpace and LineTerminator code points from both ends.
std::string_view JsTrim(std::string_view text);

// JavaScript's String#length counts UTF-16 code units: a character outside the BMP counts twice.
// Counting stops past `limit`, so a huge prompt is not walked twice.
size_t Utf16Length(std::string_view text, size_t limit = SIZE_MAX);

// String#toLowerCase. Not reproduced: the context-sensitive Greek final sigma (a word-final "Σ"
// lowers to "σ" here, to "ς" in JavaScript); only a Greek keyword could notice.
std::string JsToLower(std::string_view text);

// The plugin's /[\u4e00-\u9fff]/.test: a CJK Unified Ideograph of the basic block.
bool ContainsCjkIdeograph(std::string_view text);

// The plugin's isPhraseLikeKeyword: /[\u4e00-\u9fff]{2,}/ (two adjacent ideographs) or /\s/.
bool IsPhraseLike(std::string_view keyword);

// The plugin's /(?:^|\n)\s*\d+\./g, counted: a run of ASCII digits and a period at the start of the
// prompt or of a line, after optional whitespace (which may span blank lines).
int CountNumberedSteps(std::string_view text);

}  // namespace internal
}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_JS_TEXT_H_
