#include "policy/policy.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <boost/json.hpp>

#include "util/strings.h"

namespace quantclaw {
namespace {

namespace json = boost::json;

int Length(std::string_view text) { return static_cast<int>(text.size()); }

// One section of /policy/scorer, handed to the parser of the kind it names.
void ParseScorer(const json::value& value, const std::string& pointer, const TierTable& tiers, Validator& v,
                 std::vector<std::unique_ptr<const Scorer>>* chain) {
  const json::object* object = value.if_object();
  if (object == nullptr) {
    v.Error(pointer, StrCat("expected an object, got ", JsonKindName(value)));
    return;
  }
  std::optional<std::string> kind = v.String(*object, "kind", pointer, true);
  if (!kind) return;
  std::vector<std::string_view> names;
  for (const ScorerKind& known : ScorerKinds()) {
    if (known.name == *kind) {
      if (auto scorer = known.parse(ScorerSection{value, *object, pointer, tiers, v})) chain->push_back(std::move(scorer));
      return;
    }
    names.push_back(known.name);
  }
  std::string expected;
  for (size_t i = 0; i < names.size(); ++i) {
    StrAppend(&expected, i == 0 ? "" : i + 1 == names.size() ? " or " : ", ", Quote(names[i]));
  }
  v.Error(JoinPointer(pointer, "kind"), StrCat("unknown scorer kind ", Quote(*kind), " (expected ", expected, ")"));
}

// Stage 1, forced: the host's hint, then the configured rules (DMR forces search steps to full precision).
bool DecideForced(const TierTable& tiers, const PolicyConfig& policy, const SessionFeatures& features,
                  SessionPolicyState* state, RoutingDecision* decision) {
  if (!state->force_tier.empty()) {
    const int tier = tiers.FindTier(state->force_tier.view());
    if (tier >= 0) {
      decision->tier = decision->prefill_tier = static_cast<uint32_t>(tier);
      decision->flags = kDecisionForced;
      state->last_tier = tier;
      SetReason(decision, "forced: the host's force_tier hint");
      return true;
    }
  }
  for (size_t i = 0; i < policy.force.size(); ++i) {
    if (ConditionHolds(policy.force[i].when, features, *state)) {
      decision->tier = decision->prefill_tier = policy.force[i].tier;
      decision->flags = kDecisionForced;
      state->last_tier = static_cast<int>(policy.force[i].tier);
      SetReason(decision, "forced: /policy/force/%zu matched (step_kind %.*s)", i, Length(features.step_kind.view()),
                features.step_kind.text);
      return true;
    }
  }
  return false;
}

// Stage 2, the scorer chain: the first scorer that does not decline decides; when all decline, the
// first fallback a scorer offers, else the default tier.
ScorerVerdict RunScorerChain(const TierTable& tiers, const PolicyConfig& policy, const ScoringContext& context,
                             RoutingDecision* decision) {
  for (size_t position = 0; position < policy.scorers.size(); ++position) {
    ScorerVerdict verdict = policy.scorers[position]->Score(context, position, decision);
    if (verdict.kind != ScorerVerdict::Kind::kDeclined) return verdict;
  }
  for (const auto& scorer : policy.scorers) {
    ScorerVerdict verdict = scorer->Fallback(context, decision);
    if (verdict.kind != ScorerVerdict::Kind::kDeclined) return verdict;
  }
  decision->flags |= kDecisionDefaulted;
  SetReason(decision, "default: every scorer declined; default_tier %s", tiers.tiers[policy.default_tier].name.c_str());
  return {ScorerVerdict::Kind::kTier, -1, policy.default_tier};
}

// Stage 3, thresholds and budget: ordered thresholds map a score onto the ladder. The budget decides the
// top rung alone, since K is the fraction of scored steps that reach the top tier however long the
// ladder is: a step it sends high goes to the top even from below a lower threshold (with every step
// tied at 0.20 under thresholds [0.25, 0.75], K of them must still go high), and a step it does not send
// high keeps its place by the fixed lower thresholds, at most the rung under the top. Each group of the
// budget (all steps, or a task type or step kind) holds its own K over its own scores. Returns the
// ladder position; `effective` receives the thresholds as applied.
uint32_t ApplyThresholds(const TierTable& tiers, const PolicyConfig& policy, const SessionFeatures& features,
                         const SessionPolicyState& state, double score, const BudgetHistories* budget,
                         double tie_draw, double* effective, RoutingDecision* decision) {
  const std::vector<double>& thresholds = policy.thresholds;
  const size_t count = thresholds.size();
  BudgetQuantile* history = nullptr;
  size_t group = 0;
  if (policy.budget && budget != nullptr) {
    const BudgetConfig& config = *policy.budget;
    group = config.GroupOf(config.per == BudgetPer::kTaskType ? state.task_type.view() : features.step_kind.view());
    history = &budget->group(group);
  }
  BudgetQuantile::Cut cut;
  const bool budget_active = history != nullptr && count > 0 &&
                             history->Split(policy.budget->HighFractionOf(group), policy.budget->warmup, &cut);
  uint32_t position = 0;
  for (size_t i = 0; i < count; ++i) {
    effective[i] = thresholds[i];
    if (score > thresholds[i]) position = static_cast<uint32_t>(i + 1);
  }
  double top_threshold = count == 0 ? -1 : thresholds.back();
  bool tie = false;
  if (budget_active) {
    tie = score >= cut.bin_bottom && score <= cut.bin_top;
    if (cut.GoesHigh(score, tie_draw)) {
      position = static_cast<uint32_t>(count);
    } else if (position == count) {
      decision->flags |= kDecisionBudgetHeld;
      position = static_cast<uint32_t>(count - 1);
    }
    // Below the cut the lower thresholds still apply; above it every score goes to the top.
    top_threshold = cut.bin_top;
    for (size_t i = 0; i < count; ++i) effective[i] = std::min(thresholds[i], cut.bin_top);
  }
  decision->threshold = top_threshold;
  if (history != nullptr) history->Record(score);
  const bool top = position + 1 == tiers.ladder.size();
  const char* held = (decision->flags & kDecisionBudgetHeld) ? " (held by budget)" : "";
  const std::string_view key = policy.budget ? policy.budget->KeyOf(group) : std::string_view();
  const char* for_key = key.empty() ? "" : " for ";
  const char* key_text = key.empty() ? "" : key.data();
  if (budget_active && tie) {
    AppendReason(decision, " ties the budget threshold %.3f%s%.*s: drawn %s%s", top_threshold, for_key, Length(key),
                 key_text, top ? "high" : "low", held);
  } else {
    AppendReason(decision, " %s %s %.3f%s%.*s%s", top ? ">" : "<=", budget_active ? "budget threshold" : "threshold",
                 top_threshold, for_key, Length(key), key_text, held);
  }
  return position;
}

// The governor's estimate of one option for the step, in ms: a prefill of `prefill_tokens` uncached tokens
// on `prefill`, a hand-off's cost if any, and the expected output decoded on `decode`.
double EstimateMs(const LatencyView& latency, uint32_t prefill, uint64_t prefill_tokens, double handoff_ms,
                  uint32_t decode) {
  return double(prefill_tokens) * latency.tiers[prefill].prompt_ms_per_token + handoff_ms +
         latency.expected_output_tokens * latency.tiers[decode].decode_ms_per_token;
}

struct MoveEstimate {
  const char* how = "cold";  // "cold", "with hand-off" or "by split"
  double ms = 0;
};

// The cheapest way to serve the step on `to` when the session's cache is warm on `from`: cold (the whole
// context prefilled there), with the cache handed off (only the new tokens), or by the phase split
// (prefill on the split's prefill tier, handed off to `to`), each only when the router would execute it.
MoveEstimate PriceMove(const TierTable& tiers, const PolicyConfig& policy, const SessionFeatures& features,
                       const LatencyView& latency, uint32_t from, uint32_t to, uint64_t new_tokens) {
  const auto handoff_ms = [&](uint32_t into) {
    return latency.tiers[into].handoff_ms >= 0 ? latency.tiers[into].handoff_ms : policy.governor->handoff_ms;
  };
  const auto same_group = [&](uint32_t a, uint32_t b) {
    return latency.tiers[a].handoff_group >= 0 && latency.tiers[a].handoff_group == latency.tiers[b].handoff_group;
  };
  MoveEstimate best{"cold", EstimateMs(latency, to, features.context_tokens, 0, to)};
  // A tier that takes no cache computed at a lower precision is moved to cold (TierTable::CanCarry).
  if (same_group(from, to) && (tiers.tiers[to].handoff.carry_from_lower ||
                               tiers.ladder_position[from] >= tiers.ladder_position[to])) {
    const double carried = EstimateMs(latency, to, new_tokens, handoff_ms(to), to);
    if (carried < best.ms) best = {"with hand-off", carried};
  }
  const std::optional<PhaseSplitConfig>& split = policy.phase_split;
  if (split && split->decode_tier == to && split->prefill_tier != to &&
      features.context_tokens >= split->min_prompt_tokens && latency.tiers[split->prefill_tier].Measured() &&
      same_group(split->prefill_tier, to)) {
    // The prefill tier holds the session's cache only when it is the warm one.
    const uint64_t prefill_tokens = split->prefill_tier == from ? new_tokens : features.context_tokens;
    const double split_ms = EstimateMs(latency, split->prefill_tier, prefill_tokens, handoff_ms(to), to);
    if (split_ms < best.ms) best = {"by split", split_ms};
  }
  return best;
}

// Stage 4, the governor: each tier keeps its own prefix cache, so moving a long session may re-pay its
// prefill. A clear score moves it whatever that costs; near a boundary, the latency model decides whether
// staying where the cache is or moving (cold, with a hand-off, by split) answers sooner, and without
// measurements yet the session stays.
uint32_t ApplyGovernor(const TierTable& tiers, const PolicyConfig& policy, const SessionFeatures& features,
                       const SessionPolicyState& state, double score, const double* effective, uint32_t position,
                       const LatencyView* latency, RoutingDecision* decision) {
  const uint32_t tier = tiers.ladder[position];
  if (!policy.governor || state.last_tier < 0 || state.last_tier >= static_cast<int>(tiers.tiers.size()) ||
      tier == static_cast<uint32_t>(state.last_tier) || features.context_tokens < policy.governor->min_context_tokens) {
    return position;
  }
  const uint32_t warm = static_cast<uint32_t>(state.last_tier);
  const uint32_t last_position = tiers.ladder_position[warm];
  const uint32_t low = std::min(position, last_position), high = std::max(position, last_position);
  double margin = 1.0;
  for (uint32_t i = low; i < high; ++i) margin = std::min(margin, std::abs(score - effective[i]));
  const double hysteresis = policy.governor->hysteresis;
  const bool priced = latency != nullptr && latency->expected_output_tokens > 0 &&
                      latency->tiers[warm].Measured() && latency->tiers[tier].Measured();
  if (!priced) {
    if (margin >= hysteresis) return position;
    decision->flags |= kDecisionCacheHeld;
    AppendReason(decision, "; stays on %s: a move re-pays ~%llu prefill tokens (margin %.2f < %.2f)",
                 tiers.tiers[warm].name.c_str(), static_cast<unsigned long long>(features.context_tokens), margin,
                 hysteresis);
    return last_position;
  }
  // On the warm tier only the step's new messages are uncached.
  const uint64_t new_tokens = std::min(features.new_tokens, features.context_tokens);
  const double stay_ms = EstimateMs(*latency, warm, new_tokens, 0, warm);
  const MoveEstimate move = PriceMove(tiers, policy, features, *latency, warm, tier, new_tokens);
  if (margin >= hysteresis || move.ms <= stay_ms) {
    AppendReason(decision, "; moves %s to %s: est %.0f ms vs stay %.0f ms", move.how, tiers.tiers[tier].name.c_str(),
                 move.ms, stay_ms);
    if (margin < hysteresis) AppendReason(decision, " (margin %.2f < %.2f)", margin, hysteresis);
    return position;
  }
  decision->flags |= kDecisionCacheHeld;
  AppendReason(decision, "; stays on %s: est %.0f ms vs move %s %.0f ms (margin %.2f < %.2f)",
               tiers.tiers[warm].name.c_str(), stay_ms, move.how, move.ms, margin, hysteresis);
  return last_position;
}

// Stage 6, the phase split (Mix-Quant): a long prompt bound for the decode tier is prefilled on the
// prefill tier.
void ApplyPhaseSplit(const PolicyConfig& policy, const SessionFeatures& features, RoutingDecision* decision) {
  if (policy.phase_split && decision->tier == policy.phase_split->decode_tier &&
      features.context_tokens >= policy.phase_split->min_prompt_tokens &&
      policy.phase_split->prefill_tier != decision->tier) {
    decision->prefill_tier = policy.phase_split->prefill_tier;
    decision->flags |= kDecisionPhaseSplit;
  }
}

// /policy/budget: K, window and warmup, and optionally a K per task type or step kind. Parsed after the
// scorer chain, so that task type keys can be checked against the QuantClaw scorer's task types.
void ParseBudget(const json::value& value, PolicyConfig& policy, Validator& v) {
  const json::object* budget =
      v.AsObject(value, "/policy/budget", {"high_fraction", "window", "warmup", "per", "fractions"});
  if (budget == nullptr) return;
  BudgetConfig parsed;
  parsed.high_fraction = v.Number(*budget, "high_fraction", "/policy/budget", 0, 1, true).value_or(parsed.high_fraction);
  parsed.window =
      static_cast<uint32_t>(v.Integer(*budget, "window", "/policy/budget", 10, 100000).value_or(parsed.window));
  parsed.warmup =
      static_cast<uint32_t>(v.Integer(*budget, "warmup", "/policy/budget", 1, 100000).value_or(parsed.warmup));
  if (parsed.warmup > parsed.window) {
    v.Error("/policy/budget/warmup", StrCat("out of range: warmup ", parsed.warmup, " exceeds window ", parsed.window));
  }
  if (std::optional<std::string> per = v.String(*budget, "per", "/policy/budget", false)) {
    if (*per == "task_type") {
      parsed.per = BudgetPer::kTaskType;
    } else if (*per == "step_kind") {
      parsed.per = BudgetPer::kStepKind;
    } else {
      v.Error("/policy/budget/per", StrCat("unknown grouping ", Quote(*per), " (expected \"task_type\" or \"step_kind\")"));
    }
  }
  const json::value* fractions_value = budget->if_contains("fractions");
  if (budget->contains("per") != (fractions_value != nullptr)) {
    v.Error(fractions_value != nullptr ? "/policy/budget/fractions" : "/policy/budget/per",
            "\"per\" and \"fractions\" go together: a K per key of the grouping");
  }
  if (fractions_value != nullptr) {
    const json::object* fractions = fractions_value->if_object();
    if (fractions == nullptr) {
      v.Error("/policy/budget/fractions", StrCat("expected an object, got ", JsonKindName(*fractions_value)));
    } else if (fractions->size() > BudgetConfig::kMaxKeys) {
      v.Error("/policy/budget/fractions",
              StrCat("too many keys: ", fractions->size(), " (at most ", BudgetConfig::kMaxKeys, ")"));
    } else {
      const QuantClawScorer* quantclaw = policy.quantclaw_scorer();
      const bool known_task_types = parsed.per == BudgetPer::kTaskType && quantclaw != nullptr && quantclaw->detector;
      for (const auto& [key, fraction] : *fractions) {
        const std::string pointer = JoinPointer("/policy/budget/fractions", key);
        if (key.empty() || key.size() > InlineName::kCapacity) {
          v.Error(pointer, StrCat("a key is 1 to ", InlineName::kCapacity, " bytes long (a step's names are cut there)"));
          continue;
        }
        if (known_task_types && quantclaw->detector->FindTaskType(key) < 0) {
          v.Error(pointer, StrCat("names no task type of the quantclaw scorer: ", Quote(key)));
          continue;
        }
        if (!fraction.is_number()) {
          v.Error(pointer, StrCat("expected a number, got ", JsonKindName(fraction)));
          continue;
        }
        const double high_fraction = fraction.to_number<double>();
        if (!(high_fraction >= 0 && high_fraction <= 1)) {
          v.Error(pointer, StrCat("out of range: ", high_fraction, " is not in [0, 1]"));
          continue;
        }
        parsed.groups.push_back(BudgetGroup{std::string(key), high_fraction});
      }
    }
  }
  policy.budget = std::move(parsed);
}

}  // namespace

void ParsePolicyConfig(const json::object& root, const TierTable& tiers, Validator& v, PolicyConfig* out) {
  PolicyConfig& policy_out = *out;
  const json::value* policy_value = root.if_contains("policy");
  policy_out.default_tier = tiers.reference_tier;
  const size_t tier_count = tiers.tiers.size();
  // Evenly spaced fixed thresholds unless given: 0.5 for two tiers.
  for (size_t i = 1; i < tier_count; ++i) policy_out.thresholds.push_back(double(i) / double(tier_count));
  if (policy_value == nullptr) return;
  const json::object* policy = v.AsObject(
      *policy_value, "/policy",
      {"force", "scorer", "thresholds", "budget", "escalation", "phase_split", "governor", "default_tier"});
  if (policy == nullptr) return;

  if (const json::value* force_value = policy->if_contains("force")) {
    if (const json::array* force = v.AsArray(*force_value, "/policy/force")) {
      for (size_t i = 0; i < force->size(); ++i) {
        std::string pointer = JoinPointer("/policy/force", i);
        const json::object* rule = v.AsObject((*force)[i], pointer, {"when", "tier"});
        if (rule == nullptr) continue;
        ForceRule force_rule;
        if (const json::value* when = rule->if_contains("when")) {
          force_rule.when = ParseCondition(*when, JoinPointer(pointer, "when"), v);
        } else {
          v.Error(JoinPointer(pointer, "when"), "required condition is missing");
        }
        if (auto tier = TierKey(tiers, *rule, "tier", pointer, true, v)) force_rule.tier = *tier;
        policy_out.force.push_back(std::move(force_rule));
      }
    }
  }

  if (const json::value* scorer = policy->if_contains("scorer")) {
    if (const json::array* chain = scorer->if_array()) {
      for (size_t i = 0; i < chain->size(); ++i) {
        ParseScorer((*chain)[i], JoinPointer("/policy/scorer", i), tiers, v, &policy_out.scorers);
      }
    } else {
      ParseScorer(*scorer, "/policy/scorer", tiers, v, &policy_out.scorers);
    }
    int quantclaw_scorers = 0;
    for (const auto& chained : policy_out.scorers) {
      if (const auto* quantclaw = dynamic_cast<const QuantClawScorer*>(chained.get())) {
        ++quantclaw_scorers;
        policy_out.quantclaw_ = quantclaw;
      }
    }
    if (quantclaw_scorers > 1) v.Error("/policy/scorer", "at most one scorer of kind \"quantclaw\"");
  }

  if (const json::value* thresholds_value = policy->if_contains("thresholds")) {
    if (const json::array* thresholds = v.AsArray(*thresholds_value, "/policy/thresholds")) {
      std::vector<double> parsed;
      for (size_t i = 0; i < thresholds->size(); ++i) {
        std::string pointer = JoinPointer("/policy/thresholds", i);
        const json::value& item = (*thresholds)[i];
        if (!item.is_number()) {
          v.Error(pointer, StrCat("expected a number, got ", JsonKindName(item)));
          continue;
        }
        double threshold = item.to_number<double>();
        if (!(threshold >= 0 && threshold <= 1)) {
          v.Error(pointer, StrCat("out of range: ", threshold, " is not in [0, 1]"));
        } else if (!parsed.empty() && threshold <= parsed.back()) {
          v.Error(pointer, "thresholds must be strictly ascending");
        }
        parsed.push_back(threshold);
      }
      if (tier_count > 0 && parsed.size() != tier_count - 1) {
        v.Error("/policy/thresholds",
                StrCat("expected ", tier_count - 1, " thresholds (one between each pair of ",
                             tier_count, " tiers on the ladder), got ", parsed.size()));
      }
      policy_out.thresholds = std::move(parsed);
    }
  }

  if (const json::value* budget_value = policy->if_contains("budget")) {
    ParseBudget(*budget_value, policy_out, v);
  }

  if (const json::value* escalation_value = policy->if_contains("escalation")) {
    if (const json::object* escalation =
            v.AsObject(*escalation_value, "/policy/escalation", {"on_invalid_tool_call"})) {
      policy_out.escalate_on_invalid_tool_call =
          v.Bool(*escalation, "on_invalid_tool_call", "/policy/escalation").value_or(true);
    }
  }

  if (const json::value* split_value = policy->if_contains("phase_split")) {
    if (const json::object* split = v.AsObject(*split_value, "/policy/phase_split",
                                               {"min_prompt_tokens", "prefill_tier", "decode_tier"})) {
      PhaseSplitConfig parsed;
      parsed.min_prompt_tokens =
          v.Integer(*split, "min_prompt_tokens", "/policy/phase_split", 1, uint64_t(1) << 40)
              .value_or(parsed.min_prompt_tokens);
      auto prefill = TierKey(tiers, *split, "prefill_tier", "/policy/phase_split", true, v);
      auto decode = TierKey(tiers, *split, "decode_tier", "/policy/phase_split", true, v);
      if (prefill && decode) {
        parsed.prefill_tier = *prefill;
        parsed.decode_tier = *decode;
        policy_out.phase_split = parsed;
      }
    }
  }

  if (const json::value* governor_value = policy->if_contains("governor")) {
    if (const json::object* governor =
            v.AsObject(*governor_value, "/policy/governor", {"min_context_tokens", "hysteresis", "handoff_ms"})) {
      GovernorConfig parsed;
      parsed.min_context_tokens = v.Integer(*governor, "min_context_tokens", "/policy/governor", 0, uint64_t(1) << 40)
                                      .value_or(parsed.min_context_tokens);
      parsed.hysteresis = v.Number(*governor, "hysteresis", "/policy/governor", 0, 1, false).value_or(parsed.hysteresis);
      parsed.handoff_ms =
          v.Number(*governor, "handoff_ms", "/policy/governor", 0, 1e6, false).value_or(parsed.handoff_ms);
      policy_out.governor = parsed;
    }
  }

  if (auto tier = TierKey(tiers, *policy, "default_tier", "/policy", false, v)) policy_out.default_tier = *tier;
}

bool KnowsTaskType(const PolicyConfig& policy, std::string_view task_type) {
  const QuantClawScorer* quantclaw = policy.quantclaw_scorer();
  return quantclaw != nullptr && quantclaw->detector != nullptr && quantclaw->detector->FindTaskType(task_type) >= 0;
}

bool ClassifyTurn(const PolicyConfig& policy, std::string_view prompt, SessionPolicyState* state,
                  TaskTypeJudge* judge) {
  state->task_type_hinted = false;
  state->task_type_from_judge = false;
  state->task_type = InlineName();
  state->task_type_score = 0;
  state->task_type_lead = 0;
  const QuantClawScorer* quantclaw = policy.quantclaw_scorer();
  return quantclaw != nullptr && quantclaw->ClassifyTurn(prompt, state, judge);
}

void Decide(const TierTable& tiers, const PolicyConfig& policy, const SessionFeatures& features,
            SessionPolicyState* state, const BudgetHistories* budget, double tie_draw, RoutingDecision* decision,
            const LatencyView* latency) {
  *decision = RoutingDecision();
  const bool escalate = std::exchange(state->escalate_next, false);
  if (DecideForced(tiers, policy, features, state, decision)) return;

  const ScorerVerdict verdict = RunScorerChain(tiers, policy, ScoringContext{tiers, features, *state}, decision);
  uint32_t position = tiers.ladder_position[verdict.tier];
  if (verdict.kind == ScorerVerdict::Kind::kScore) {
    double effective[kMaxTiers] = {};  // the thresholds as applied, budget included
    position = ApplyThresholds(tiers, policy, features, *state, verdict.score, budget, tie_draw, effective, decision);
    position = ApplyGovernor(tiers, policy, features, *state, verdict.score, effective, position, latency, decision);
  }
  // Stage 5, escalation: the last step's tool call was invalid, so this one goes up a rung.
  if (escalate && position + 1 < tiers.ladder.size()) {
    ++position;
    decision->flags |= kDecisionEscalated;
    AppendReason(decision, "; escalated: last tool call invalid");
  }
  decision->tier = decision->prefill_tier = tiers.ladder[position];
  decision->score = verdict.score;
  state->last_tier = static_cast<int>(decision->tier);
  ApplyPhaseSplit(policy, features, decision);
}

}  // namespace quantclaw
