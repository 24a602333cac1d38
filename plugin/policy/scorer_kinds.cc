// The scorer kinds a config may name in /policy/scorer. A new kind is one file (a Scorer and its
// parser) plus its line here.
#include "policy/scorer.h"

namespace quantclaw {

std::unique_ptr<const Scorer> ParseRulesScorer(const ScorerSection& section);      // rules_scorer.cc
std::unique_ptr<const Scorer> ParseQuantClawScorer(const ScorerSection& section);  // quantclaw_scorer.cc
std::unique_ptr<const Scorer> ParseLearnedScorer(const ScorerSection& section);    // learned_scorer.cc

std::span<const ScorerKind> ScorerKinds() {
  static constexpr ScorerKind kKinds[] = {
      {"rules", &ParseRulesScorer},
      {"quantclaw", &ParseQuantClawScorer},
      {"learned", &ParseLearnedScorer},
  };
  return kKinds;
}

}  // namespace quantclaw
