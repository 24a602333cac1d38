// QuantClaw task-type keywords: how the plugin's rule detector matches a keyword against a prompt
// (matchesRuleKeyword, isPhraseLikeKeyword), decided once per keyword when the config compiles.
#ifndef QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_KEYWORDS_H_
#define QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_KEYWORDS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "policy/task_types.h"
#include "policy/task_types/prefilter.h"

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

// The plugin's tokenizeForRules keeps a token of the lowercased prompt only if it is at least two
// UTF-16 code units long and not one of its RULE_STOP_WORDS.
bool IsRuleToken(std::string_view token);

// The prompt's tokens (views into the lowercased prompt).
using TokenSet = std::unordered_set<std::string_view>;

// One keyword asked on its own: the plain reading of the plugin's rules, which the detector's
// reference path keeps (TaskTypeDetector::DetectRunningEveryPattern) to hold KeywordIndex to.
bool KeywordMatches(const Keyword& keyword, std::string_view lowered_prompt, const TokenSet& tokens);

// All the keywords of a detector, system words included, answered for one prompt at once. Asking
// each keyword in turn cost most of a detection: the plugin's config has some 240 keywords, half of
// them substrings (a find each) and half tokens (a hash lookup per form, three forms each in
// improved mode), against some 15 tokens in a prompt. Here the substrings are found by one
// Aho-Corasick pass over the lowercased prompt, and each token of the prompt is looked up once in a
// table from every token form to the keywords it counts for. Same answers as KeywordMatches
// (tests/unit/task_types_test.cc holds the two paths to the same results).
class KeywordIndex {
 public:
  // Adds a keyword; returns its id, for Lookup::Matches.
  uint32_t Add(const Keyword& keyword);
  // Builds the automaton; call once, after the last Add.
  void Build() { substrings_.Build(); }

  class Lookup {
   public:
    // Finds the substring keywords in the lowercased prompt.
    Lookup(const KeywordIndex& index, std::string_view lowered_prompt);
    // A token of the lowercased prompt, as the tokenizer found it (IsRuleToken need not hold: a
    // form that fails it was never indexed, so such a token matches nothing, as in the plugin).
    void AddToken(std::string_view token);
    bool Matches(uint32_t keyword) const { return matched_[keyword] != 0; }

   private:
    const KeywordIndex& index_;
    std::vector<uint8_t> matched_;  // per keyword id
  };

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>()(text); }
  };

  uint32_t keyword_count_ = 0;
  LiteralTable substrings_{LiteralTable::Folding::kExact};
  std::vector<std::pair<uint32_t, uint32_t>> substring_keywords_;  // (literal, keyword id)
  // Token form -> the keywords it counts for (a form can be two keywords': "tax" and "taxes").
  std::unordered_map<std::string, std::vector<uint32_t>, StringHash, std::equal_to<>> token_forms_;
};

}  // namespace quantclaw::internal

#endif  // QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_KEYWORDS_H_
