#include "policy/task_types/keywords.h"

#include <algorithm>
#include <iterator>

#include "policy/task_types/js_text.h"
#include "util/utf8.h"

namespace quantclaw::internal {
namespace {

// RULE_STOP_WORDS, verbatim. One-character words are listed there too but are dropped by length.
constexpr std::string_view kStopWords[] = {"a",    "an",   "and",  "are",  "as",  "at",  "be",
                                           "by",   "for",  "from", "how",  "i",   "if",  "in",
                                           "into", "is",   "it",   "of",   "on",  "or",  "that",
                                           "the",  "this", "to",   "with", "you", "your"};

}  // namespace

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

bool IsRuleToken(std::string_view token) {
  return Utf16Length(token, 2) >= 2 &&
         std::find(std::begin(kStopWords), std::end(kStopWords), token) == std::end(kStopWords);
}

uint32_t KeywordIndex::Add(const Keyword& keyword) {
  const uint32_t id = keyword_count_++;
  switch (keyword.kind) {
    case KeywordKind::kNever:
      break;
    case KeywordKind::kSubstring:
      substring_keywords_.emplace_back(substrings_.Add(keyword.text), id);
      break;
    case KeywordKind::kToken:
      for (const std::string& form : keyword.token_forms) {
        // A form the tokenizer's filter drops can never equal a kept token.
        if (!IsRuleToken(form)) continue;
        token_forms_[form].push_back(id);
      }
      break;
  }
  return id;
}

KeywordIndex::Lookup::Lookup(const KeywordIndex& index, std::string_view lowered_prompt)
    : index_(index), matched_(index.keyword_count_, 0) {
  if (index.substring_keywords_.empty()) return;
  const LiteralTable::Lookup found(index.substrings_, lowered_prompt);
  for (const auto& [literal, keyword] : index.substring_keywords_) {
    if (found.Holds(literal)) matched_[keyword] = 1;
  }
}

void KeywordIndex::Lookup::AddToken(std::string_view token) {
  const auto forms = index_.token_forms_.find(token);
  if (forms == index_.token_forms_.end()) return;
  for (uint32_t keyword : forms->second) matched_[keyword] = 1;
}

}  // namespace quantclaw::internal
