// The rules scorer: a step scores what the highest-scoring rule that matches it says; with no match it
// declines, unless a default_score is set.
//   {"kind": "rules", "rules": [{"when": {...}, "score": 0.9}, ...], "default_score": 0.2}
#include <memory>
#include <optional>
#include <vector>

#include <boost/json.hpp>

#include "policy/condition.h"
#include "policy/scorer.h"

namespace quantclaw {
namespace {

namespace json = boost::json;

struct ScoreRule {
  Condition when;
  double score = 0;
};

class RulesScorer final : public Scorer {
 public:
  std::vector<ScoreRule> rules;
  std::optional<double> default_score;

  ScorerVerdict Score(const ScoringContext& context, size_t position, RoutingDecision* decision) const override {
    int matched = -1;
    double score = -1;
    for (size_t r = 0; r < rules.size(); ++r) {
      if (ConditionHolds(rules[r].when, context.features, context.state) && (matched < 0 || rules[r].score > score)) {
        matched = static_cast<int>(r);
        score = rules[r].score;
      }
    }
    if (matched >= 0) {
      SetReason(decision, "rules: scorer %zu rule %d scored %.2f", position, matched, score);
      return {ScorerVerdict::Kind::kScore, score, 0};
    }
    if (default_score) {
      SetReason(decision, "rules: scorer %zu no rule matched; default_score %.2f", position, *default_score);
      return {ScorerVerdict::Kind::kScore, *default_score, 0};
    }
    return {};
  }
};

}  // namespace

std::unique_ptr<const Scorer> ParseRulesScorer(const ScorerSection& section) {
  Validator& v = section.v;
  const std::string& pointer = section.pointer;
  v.AsObject(section.value, pointer, {"kind", "rules", "default_score"});
  auto scorer = std::make_unique<RulesScorer>();
  scorer->default_score = v.Number(section.object, "default_score", pointer, 0, 1, false);
  if (const json::value* rules_value = section.object.if_contains("rules")) {
    std::string rules_pointer = JoinPointer(pointer, "rules");
    if (const json::array* rules = v.AsArray(*rules_value, rules_pointer)) {
      for (size_t i = 0; i < rules->size(); ++i) {
        std::string rule_pointer = JoinPointer(rules_pointer, i);
        const json::object* rule = v.AsObject((*rules)[i], rule_pointer, {"when", "score"});
        if (rule == nullptr) continue;
        ScoreRule score_rule;
        if (const json::value* when = rule->if_contains("when")) {
          score_rule.when = ParseCondition(*when, JoinPointer(rule_pointer, "when"), v);
        } else {
          v.Error(JoinPointer(rule_pointer, "when"), "required condition is missing");
        }
        score_rule.score = v.Number(*rule, "score", rule_pointer, 0, 1, true).value_or(0);
        scorer->rules.push_back(std::move(score_rule));
      }
    }
  } else {
    v.Error(JoinPointer(pointer, "rules"), "required array of rules is missing");
  }
  return scorer;
}

}  // namespace quantclaw
