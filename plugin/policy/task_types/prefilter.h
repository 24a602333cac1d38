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

// With kCaseless (the patterns' prefilter), literals are compared with the subject case-folded: the
// case-insensitive match of an ASCII letter is the letter in either case or, for s and k, U+017F
// and U+212A, and all of them read as the lower-case letter. Characters of literals have no other
// case forms (ExtractRequiredLiterals keeps to ASCII and the CJK blocks). With kExact (the keyword
// index, keywords.h, which scans the already lowercased prompt) a literal is found where
// std::string_view::find would find it.
class LiteralTable {
 public:
  enum class Folding : uint8_t { kCaseless, kExact };
  explicit LiteralTable(Folding folding = Folding::kCaseless) : folding_(folding) {}

  // Adds the literals of one pattern; returns its clauses as indices into the table.
  std::vector<std::vector<uint32_t>> Add(const RequiredLiterals& required);
  // Adds one literal (or finds it already there); returns its index.
  uint32_t Add(std::string_view literal);
  // Builds the automaton; call once, after the last Add.
  void Build();
  size_t size() const { return literals_.size(); }

  // One message's answers, found in one pass over the subject.
  class Lookup {
   public:
    Lookup(const LiteralTable& table, std::string_view subject);
    bool Holds(const std::vector<std::vector<uint32_t>>& clauses) const;
    bool Holds(uint32_t literal) const { return present_[literal] != 0; }

   private:
    std::vector<uint8_t> present_;  // per literal
  };

 private:
  Folding folding_;
  std::vector<std::string> literals_;
  uint8_t byte_class_[256] = {};  // 0: a byte no literal has
  uint32_t class_count_ = 1;
  // The DFA, failures folded in: row (state x class_count_) + class -> the target's row, with
  // kEmits when literals end at the target. Rows stay below the flag while the table fits in
  // memory: it would hold 2^31 moves (8 GiB) first.
  static constexpr uint32_t kEmits = 0x8000'0000u;
  std::vector<uint32_t> moves_;
  std::vector<uint32_t> output_start_;     // per state: its first in output_literals_
  std::vector<uint32_t> output_literals_;  // per state, the literals that end there
};

}  // namespace internal
}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_PREFILTER_H_
