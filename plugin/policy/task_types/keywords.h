// QuantClaw task-type keywords: how the plugin's rule detector matches a keyword against a prompt
// (matchesRuleKeyword, isPhraseLikeKeyword), decided once per keyword when the config compiles.
#ifndef QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_KEYWORDS_H_
#define QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_KEYWORDS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "policy/task_types.h"

namespace quantclaw::internal {

inline constexpr int kPhraseKeywordPoints = 5;
inline constexpr int kWordKeywordPoints = 3;


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
Keyword MakeKeyword(std::string_view raw, TaskTypeMode mode);

// The prompt's tokens (views into the lowercased prompt).
using TokenSet = std::unordered_set<std::string_view>;

bool KeywordMatches(const Keyword& keyword, std::string_view lowered_prompt, const TokenSet& tokens);

}  // namespace quantclaw::internal

#endif  // QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_KEYWORDS_H_
