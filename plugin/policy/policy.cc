#include "policy/policy.h"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <cstring>

namespace quantclaw {
namespace {

bool AnyEquals(const std::vector<std::string>& values, std::string_view value) {
  for (const std::string& candidate : values) {
    if (candidate == value) return true;
  }
  return false;
}

bool Compare(Condition::Comparison comparison, double left, double right) {
  switch (comparison) {
    case Condition::Comparison::kGreater: return left > right;
    case Condition::Comparison::kGreaterOrEqual: return left >= right;
    case Condition::Comparison::kLess: return left < right;
    case Condition::Comparison::kLessOrEqual: return left <= right;
  }
  return false;
}

template <typename... Args>
void SetReason(RoutingDecision* decision, const char* format, Args... args) {
  std::snprintf(decision->reason, sizeof(decision->reason), format, args...);
}

int Length(std::string_view text) { return static_cast<int>(text.size()); }

// The tier that serves a QuantClaw task type, escalating up the precisions while none is mapped.
uint32_t TierForTaskType(const RouterConfig& config, const QuantClawScorer& scorer, int task_type,
                         bool* escalated, Precision* served) {
  Precision precision = scorer.detector->ResolvePrecision(task_type, escalated);
  int p = static_cast<int>(precision);
  while (p < kPrecisionCount - 1 && scorer.precision_tier[p] < 0) {
    ++p;
    *escalated = true;
  }
  *served = static_cast<Precision>(p);
  int tier = scorer.precision_tier[p];
  return tier < 0 ? config.reference_tier : static_cast<uint32_t>(tier);
}

// Score for a QuantClaw precision, so traces and thresholds read on one scale.
double PrecisionScore(Precision precision) {
  switch (precision) {
    case Precision::k4bit: return 0.0;
    case Precision::k8bit: return 0.5;
    case Precision::k16bit: return 1.0;
  }
  return 1.0;
}

}  // namespace

bool ConditionHolds(const Condition& condition, const SessionFeatures& features,
                    const SessionPolicyState& state) {
  for (const Condition::NumericTest& test : condition.numeric) {
    if (!Compare(test.comparison, features.Numeric(test.feature), test.value)) return false;
  }
  if (!condition.step_kinds.empty() && !AnyEquals(condition.step_kinds, features.step_kind.view())) {
    return false;
  }
  if (!condition.last_tools.empty() &&
      (features.recent_tool_count == 0 || !AnyEquals(condition.last_tools, features.recent_tools[0].view()))) {
    return false;
  }
  if (!condition.task_types.empty() && !AnyEquals(condition.task_types, state.task_type.view())) {
    return false;
  }
  if (condition.json_requested && *condition.json_requested != features.json_requested) return false;
  if (condition.tools_requested && *condition.tools_requested != (features.tools_offered > 0)) return false;
  if (condition.last_tool_error && *condition.last_tool_error != features.last_tool_error) return false;
  return true;
}

void ClassifyTurn(const RouterConfig& config, std::string_view prompt, SessionPolicyState* state) {
  const QuantClawScorer* scorer = config.quantclaw_scorer();
  state->task_type_hinted = false;
  state->task_type_from_judge = false;
  state->task_type = InlineName();
  state->task_type_score = 0;
  state->task_type_lead = 0;
  if (scorer == nullptr || scorer->detector == nullptr) return;
  TaskTypeMatch match = scorer->detector->Detect(prompt);
  if (match.task_type < 0) return;  // declined: the chain goes on
  state->task_type.Assign(scorer->detector->task_type(match.task_type).id);
  state->task_type_score = match.score;
  state->task_type_lead = match.score - match.runner_up_score;
}

void Decide(const RouterConfig& config, const SessionFeatures& features, SessionPolicyState* state,
            BudgetQuantile* budget, double tie_draw, RoutingDecision* decision) {
  *decision = RoutingDecision();
  const PolicyConfig& policy = config.policy;
  const bool escalate = state->escalate_next;
  state->escalate_next = false;

  // Forced: the host's hint, then the configured rules (DMR forces search steps to full precision).
  if (!state->force_tier.empty()) {
    int tier = config.FindTier(state->force_tier.view());
    if (tier >= 0) {
      decision->tier = decision->prefill_tier = static_cast<uint32_t>(tier);
      decision->flags = kDecisionForced;
      state->last_tier = tier;
      SetReason(decision, "forced: the host's force_tier hint");
      return;
    }
  }
  for (size_t i = 0; i < policy.force.size(); ++i) {
    if (ConditionHolds(policy.force[i].when, features, *state)) {
      decision->tier = decision->prefill_tier = policy.force[i].tier;
      decision->flags = kDecisionForced;
      state->last_tier = static_cast<int>(policy.force[i].tier);
      SetReason(decision, "forced: /policy/force/%zu matched (step_kind %.*s)", i,
                Length(features.step_kind.view()), features.step_kind.text);
      return;
    }
  }

  // The scorer chain: the first scorer that does not decline decides.
  bool scored = false;        // a numeric score to hold against the thresholds
  bool tier_chosen = false;   // a scorer named the tier itself (QuantClaw task types)
  uint32_t tier = policy.default_tier;
  double score = -1;
  const QuantClawScorer* declined_quantclaw = nullptr;
  for (size_t s = 0; s < policy.scorers.size() && !scored && !tier_chosen; ++s) {
    const Scorer& scorer = policy.scorers[s];
    if (const auto* rules = std::get_if<RulesScorer>(&scorer)) {
      int matched = -1;
      for (size_t r = 0; r < rules->rules.size(); ++r) {
        if (ConditionHolds(rules->rules[r].when, features, *state) &&
            (matched < 0 || rules->rules[r].score > score)) {
          matched = static_cast<int>(r);
          score = rules->rules[r].score;
        }
      }
      if (matched >= 0) {
        scored = true;
        SetReason(decision, "rules: scorer %zu rule %d scored %.2f", s, matched, score);
      } else if (rules->default_score) {
        scored = true;
        score = *rules->default_score;
        SetReason(decision, "rules: scorer %zu no rule matched; default_score %.2f", s, score);
      }
    } else if (const auto* quantclaw = std::get_if<QuantClawScorer>(&scorer)) {
      int task_type = state->task_type.empty() ? -1 : quantclaw->detector->FindTaskType(state->task_type.view());
      if (task_type < 0) {
        declined_quantclaw = quantclaw;
        continue;
      }
      bool escalated = false;
      Precision served;
      tier = TierForTaskType(config, *quantclaw, task_type, &escalated, &served);
      tier_chosen = true;
      score = PrecisionScore(served);
      if (escalated) decision->flags |= kDecisionEscalated;
      std::string_view id = state->task_type.view();
      std::string_view precision = PrecisionName(served);
      if (state->task_type_from_judge) {
        SetReason(decision, "quantclaw: task type %.*s (LLM judge; rules declined) -> %.*s%s", Length(id), id.data(),
                  Length(precision), precision.data(), escalated ? " (escalated: target missing)" : "");
      } else if (state->task_type_hinted) {
        SetReason(decision, "quantclaw: task type %.*s (host hint) -> %.*s%s", Length(id), id.data(),
                  Length(precision), precision.data(), escalated ? " (escalated: target missing)" : "");
      } else {
        SetReason(decision, "quantclaw: task type %.*s (rule score %d, lead %d) -> %.*s%s", Length(id),
                  id.data(), state->task_type_score, state->task_type_lead, Length(precision),
                  precision.data(), escalated ? " (escalated: target missing)" : "");
      }
    }
  }
  if (!scored && !tier_chosen) {
    if (declined_quantclaw != nullptr) {
      // The plugin's last resort: its default task type.
      int task_type = declined_quantclaw->detector->default_task_type();
      bool escalated = false;
      Precision served;
      tier = TierForTaskType(config, *declined_quantclaw, task_type, &escalated, &served);
      score = PrecisionScore(served);
      std::string_view id = declined_quantclaw->detector->task_type(task_type).id;
      std::string_view precision = PrecisionName(served);
      decision->flags |= kDecisionDefaulted | (escalated ? kDecisionEscalated : 0);
      SetReason(decision, "quantclaw: rules declined; default task type %.*s -> %.*s", Length(id), id.data(),
                Length(precision), precision.data());
    } else {
      tier = policy.default_tier;
      decision->flags |= kDecisionDefaulted;
      SetReason(decision, "default: every scorer declined; default_tier %s",
                config.tiers[tier].name.c_str());
    }
  }

  uint32_t position = config.ladder_position[tier];
  if (scored) {
    // Ordered thresholds map the score onto the ladder; the budget moves the top one.
    const std::vector<double>& thresholds = policy.thresholds;
    double top_threshold = thresholds.empty() ? -1 : thresholds.back();
    BudgetQuantile::Cut cut;
    const bool budget_active = policy.budget && budget != nullptr &&
                               budget->Split(policy.budget->high_fraction, policy.budget->warmup, &cut);
    bool tie = false;
    position = 0;
    double effective[kMaxTiers] = {};  // the thresholds as applied, budget included
    for (size_t i = 0; i < thresholds.size(); ++i) {
      effective[i] = thresholds[i];
      bool above = score > thresholds[i];
      if (budget_active && i + 1 == thresholds.size()) {
        // The budget replaces the top threshold but never reaches below the one under it.
        bool above_lower = i == 0 || score > thresholds[i - 1];
        tie = score >= cut.bin_bottom && score <= cut.bin_top;
        bool budget_above = above_lower && cut.GoesHigh(score, tie_draw);
        if (above && !budget_above) decision->flags |= kDecisionBudgetHeld;
        above = budget_above;
        top_threshold = cut.bin_top;
        effective[i] = cut.bin_top;
      }
      if (above) position = static_cast<uint32_t>(i + 1);
    }
    decision->threshold = top_threshold;
    if (budget != nullptr && policy.budget) budget->Record(score);
    size_t used = std::strlen(decision->reason);
    const bool top = position + 1 == config.ladder.size();
    const char* held = (decision->flags & kDecisionBudgetHeld) ? " (held by budget)" : "";
    if (budget_active && tie) {
      std::snprintf(decision->reason + used, sizeof(decision->reason) - used,
                    " ties the budget threshold %.3f: drawn %s%s", top_threshold, top ? "high" : "low", held);
    } else {
      std::snprintf(decision->reason + used, sizeof(decision->reason) - used, " %s %s %.3f%s", top ? ">" : "<=",
                    budget_active ? "budget threshold" : "threshold", top_threshold, held);
    }
    tier = config.ladder[position];
    // The governor: each tier keeps its own prefix cache, so moving a long session re-pays its prefill.
    // Near a boundary, the session stays where its cache is.
    if (policy.governor && state->last_tier >= 0 && state->last_tier < static_cast<int>(config.tiers.size()) &&
        tier != static_cast<uint32_t>(state->last_tier) &&
        features.context_tokens >= policy.governor->min_context_tokens) {
      const uint32_t last_position = config.ladder_position[state->last_tier];
      const uint32_t low = std::min(position, last_position), high = std::max(position, last_position);
      double margin = 1.0;
      for (uint32_t i = low; i < high; ++i) margin = std::min(margin, std::abs(score - effective[i]));
      if (margin < policy.governor->hysteresis) {
        position = last_position;
        tier = static_cast<uint32_t>(state->last_tier);
        decision->flags |= kDecisionCacheHeld;
        size_t at = std::strlen(decision->reason);
        std::snprintf(decision->reason + at, sizeof(decision->reason) - at,
                      "; stays on %s: a move re-pays ~%llu prefill tokens (margin %.2f < %.2f)",
                      config.tiers[tier].name.c_str(), static_cast<unsigned long long>(features.context_tokens),
                      margin, policy.governor->hysteresis);
      }
    }
  }
  if (escalate && position + 1 < config.ladder.size()) {
    ++position;
    tier = config.ladder[position];
    decision->flags |= kDecisionEscalated;
    size_t used = std::strlen(decision->reason);
    std::snprintf(decision->reason + used, sizeof(decision->reason) - used,
                  "; escalated: last tool call invalid");
  }
  decision->tier = decision->prefill_tier = tier;
  decision->score = score;
  state->last_tier = static_cast<int>(tier);
  if (policy.phase_split && tier == policy.phase_split->decode_tier &&
      features.context_tokens >= policy.phase_split->min_prompt_tokens &&
      policy.phase_split->prefill_tier != tier) {
    decision->prefill_tier = policy.phase_split->prefill_tier;
    decision->flags |= kDecisionPhaseSplit;
  }
}

}  // namespace quantclaw
