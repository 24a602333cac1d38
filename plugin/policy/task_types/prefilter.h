// A literal prefilter for the QuantClaw patterns. Most messages contain none of the words a pattern
// looks for, yet a regex search still walks the whole message; this finds, once per pattern, the
// literals that any match must contain, and per message only runs a pattern whose literals are
// present. It never changes an answer (tests/unit/task_types_test.cc holds Detect with and without
// it to the same results): where the extraction cannot prove a requirement, there is none, and the
// pattern always runs.
//
// The message is scanned once, by an Aho-Corasick automaton over all the detector's literals (a few
// hundred states for the plugin's config), folding case as it reads: one find per literal cost 1.5
// of the 8 us of a detection on the bench prompts. Hyperscan could scan for the patterns
// themselves, but it refuses lookaround (16 of the plugin's 31 patterns) outside its approximate
// prefilter mode, and it is a large, x86-only dependency for a few dozen short strings.
#ifndef QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_PREFILTER_H_
#define QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_PREFILTER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace quantclaw {
namespace internal {

// What a match of one pattern needs: every clause holds, and a clause holds when any one of its
// literals occurs in the folded subject. No clauses: nothing is known.
using LiteralClause = std::vector<std::string>;
using RequiredLiterals = std::vector<LiteralClause>;

// The requirements of a JavaScript pattern with flags "iu", literals folded as FoldForPrefilter
// folds the subject. Conservative: on any syntax it does not parse, none.
RequiredLiterals ExtractRequiredLiterals(std::string_view pattern);

// Literals are compared with the subject case-folded: the case-insensitive match of an ASCII letter
// is the letter in either case or, for s and k, U+017F and U+212A, and all of them read as the
// lower-case letter. Characters of literals have no other case forms (ExtractRequiredLiterals keeps
// to ASCII and the CJK blocks).
class LiteralTable {
 public:
  // Adds the literals of one pattern; returns its clauses as indices into the table.
  std::vector<std::vector<uint32_t>> Add(const RequiredLiterals& required);
  // Builds the automaton; call once, after the last Add.
  void Build();
  size_t size() const { return literals_.size(); }

  // One message's answers, found in one pass over the subject.
  class Lookup {
   public:
    Lookup(const LiteralTable& table, std::string_view subject);
    bool Holds(const std::vector<std::vector<uint32_t>>& clauses) const;

   private:
    std::vector<uint8_t> present_;  // per literal
  };

 private:
  uint32_t Transition(uint32_t state, uint8_t byte) const {
    return next_[state * class_count_ + byte_class_[byte]];
  }

  std::vector<std::string> literals_;
  uint8_t byte_class_[256] = {};  // 0: a byte no literal has
  uint32_t class_count_ = 1;
  std::vector<uint32_t> next_;                  // state x class -> state, failures folded in
  std::vector<std::vector<uint32_t>> outputs_;  // per state: the literals that end there
};

}  // namespace internal
}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_PREFILTER_H_
