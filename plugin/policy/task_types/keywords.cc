#include "policy/task_types/keywords.h"

#include "policy/task_types/js_text.h"
#include "util/utf8.h"

namespace quantclaw::internal {

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

}  // namespace quantclaw::internal
