// A literal prefilter for the QuantClaw patterns. Most messages contain none of the words a pattern
// looks for, yet a regex search still walks the whole message; this finds, once per pattern, the
// literals that any match must contain, and per message only runs a pattern whose literals are
// present. It never changes an answer (tests/unit/task_types_test.cc holds Detect with and without
// it to the same results): where the extraction cannot prove a requirement, there is none, and the
// pattern always runs.
//
// The message is scanned with one std::string_view::find (memchr, then memcmp) per distinct literal
// that a pattern asks about, each at most once per message. The plugin's config has some 60 short
// literals and messages are mostly short, where that beats an automaton's table walk; with hundreds
// of patterns, Aho-Corasick (or Hyperscan) over all literals at once would be the next step.
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

// The subject as literals are compared with it: the case-insensitive match of an ASCII letter is the
// letter in either case or, for s and k, U+017F and U+212A; all of them become the lower-case
// letter. Characters of literals have no other case forms (ExtractRequiredLiterals keeps to ASCII
// and the CJK blocks).
void FoldForPrefilter(std::string_view subject, std::string* folded);

// Literals shared by all the patterns of a detector, each looked up at most once per message.
class LiteralTable {
 public:
  // The clauses as indices into the table.
  std::vector<std::vector<uint32_t>> Add(const RequiredLiterals& required);
  size_t size() const { return literals_.size(); }

  // One message's answers: built lazily, so only literals some pattern asks about are searched.
  class Lookup {
   public:
    Lookup(const LiteralTable& table, std::string_view folded_subject)
        : table_(table), subject_(folded_subject), state_(table.size(), kUnknown) {}
    bool Holds(const std::vector<std::vector<uint32_t>>& clauses);

   private:
    static constexpr int8_t kUnknown = -1;
    bool Present(uint32_t literal);
    const LiteralTable& table_;
    std::string_view subject_;
    std::vector<int8_t> state_;
  };

 private:
  std::vector<std::string> literals_;
};

}  // namespace internal
}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_POLICY_TASK_TYPES_PREFILTER_H_
