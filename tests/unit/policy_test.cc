#include "policy/policy.h"
#include "router/router_config.h"
#include "util/strings.h"

#include <cmath>
#include <cstdio>
#include <random>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace quantclaw {
namespace {

std::shared_ptr<const RouterConfig> Config(const std::string& policy) {
  std::string json = R"({"tiers":[
      {"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m"},
      {"name":"fp8","format":"fp8","base_url":"http://h/v1","model":"m"},
      {"name":"w4","format":"w4a16","base_url":"http://h/v1","model":"m"}],
      "reference_tier":"bf16","policy":)" + policy + "}";
  ConfigErrors errors;
  auto config = ParseRouterConfig(json, &errors);
  EXPECT_TRUE(config) << (errors.empty() ? "" : errors[0].pointer + ": " + errors[0].reason);
  return config;
}

SessionFeatures Features(std::string_view kind, uint64_t context_tokens = 100) {
  SessionFeatures features;
  features.step_kind.Assign(kind);
  features.context_tokens = context_tokens;
  return features;
}

RoutingDecision DecideFor(const RouterConfig& config, const SessionFeatures& features,
                          SessionPolicyState* state = nullptr, const BudgetHistories* budget = nullptr,
                          double tie_draw = 0.5) {
  SessionPolicyState local;
  RoutingDecision decision;
  Decide(config, config.policy, features, state ? state : &local, budget, tie_draw, &decision);
  return decision;
}

const char* kRules = R"({
  "force":[{"when":{"step_kind":"search"},"tier":"bf16"}],
  "scorer":{"kind":"rules","default_score":0.1,"rules":[
    {"when":{"context_tokens_gt":16000},"score":0.9},
    {"when":{"step_kind":"reason"},"score":0.5}]},
  "thresholds":[0.3,0.7]})";

TEST(PolicyTest, ForcedRuleWinsOverScorer) {
  auto config = Config(kRules);
  RoutingDecision decision = DecideFor(*config, Features("search", 50000));
  EXPECT_EQ(decision.tier, 0u);
  EXPECT_EQ(decision.flags, kDecisionForced);
  EXPECT_EQ(decision.score, -1);
  EXPECT_STREQ(decision.reason, "forced: /policy/force/0 matched (step_kind search)");
}

TEST(PolicyTest, ScoreMapsOntoTheLadderByOrderedThresholds) {
  auto config = Config(kRules);
  EXPECT_EQ(DecideFor(*config, Features("act")).tier, 2u);                 // 0.1 <= 0.3: w4
  EXPECT_EQ(DecideFor(*config, Features("reason")).tier, 1u);              // 0.5: fp8
  RoutingDecision high = DecideFor(*config, Features("act", 20000));       // 0.9 > 0.7: bf16
  EXPECT_EQ(high.tier, 0u);
  EXPECT_DOUBLE_EQ(high.score, 0.9);
  EXPECT_DOUBLE_EQ(high.threshold, 0.7);
  EXPECT_STREQ(high.reason, "rules: scorer 0 rule 0 scored 0.90 > threshold 0.700");
}

TEST(PolicyTest, HighestMatchingRuleScores) {
  auto config = Config(kRules);
  EXPECT_DOUBLE_EQ(DecideFor(*config, Features("reason", 20000)).score, 0.9);
}

TEST(PolicyTest, DeclinedChainFallsBackToDefaultTier) {
  auto config = Config(R"({"scorer":{"kind":"rules","rules":[{"when":{"step_kind":"x"},"score":1}]},
                           "default_tier":"fp8"})");
  RoutingDecision decision = DecideFor(*config, Features("act"));
  EXPECT_EQ(decision.tier, 1u);
  EXPECT_EQ(decision.flags, kDecisionDefaulted);
}

TEST(PolicyTest, InvalidToolCallEscalatesTheNextStepOnce) {
  auto config = Config(kRules);
  SessionPolicyState state;
  state.escalate_next = true;
  RoutingDecision escalated = DecideFor(*config, Features("act"), &state);
  EXPECT_EQ(escalated.tier, 1u);  // w4 -> fp8
  EXPECT_TRUE(escalated.flags & kDecisionEscalated);
  EXPECT_FALSE(state.escalate_next);
  EXPECT_EQ(DecideFor(*config, Features("act"), &state).tier, 2u);
}

TEST(PolicyTest, HostForceTierHint) {
  auto config = Config(kRules);
  SessionPolicyState state;
  state.force_tier.Assign("w4");
  RoutingDecision decision = DecideFor(*config, Features("search"), &state);
  EXPECT_EQ(decision.tier, 2u);
  EXPECT_EQ(decision.flags, kDecisionForced);
}

// Half the steps score 0.9 and half 0.5: a fixed threshold of 0.7 would send 50% high. The budget of
// 20% splits the tied 0.9s by the tie draw so that 20 of the 50 recent scores (40% of the 0.9s) go high.
TEST(PolicyTest, BudgetHoldsTheHighFractionAcrossTies) {
  auto config = Config(R"({"scorer":{"kind":"rules","rules":[
      {"when":{"context_tokens_gt":1000},"score":0.9},{"when":{"context_tokens_le":1000},"score":0.5}]},
      "thresholds":[0.3,0.7],"budget":{"high_fraction":0.2,"window":100,"warmup":10}})");
  BudgetHistories budget(*config->policy.budget);
  int high = 0, held = 0, scored = 0;
  for (int i = 0; i < 1000; ++i) {
    double tie_draw = (i * 0.618034) - static_cast<int>(i * 0.618034);  // evenly spread in [0, 1)
    RoutingDecision decision = DecideFor(*config, Features("act", i % 2 ? 5000 : 10), nullptr, &budget, tie_draw);
    if (i < 100) continue;
    ++scored;
    high += decision.tier == 0;
    held += (decision.flags & kDecisionBudgetHeld) != 0;
    if (decision.tier != 0) {
      EXPECT_EQ(decision.tier, 1u);  // the 0.5s and the held 0.9s: fp8
    }
  }
  EXPECT_NEAR(high / double(scored), 0.2, 0.03);
  EXPECT_NEAR(held / double(scored), 0.3, 0.03);  // the other 0.9s
}

TEST(PolicyTest, TieDrawDecidesOnlyAtTheSplit) {
  auto config = Config(R"({"scorer":{"kind":"rules","rules":[{"when":{"step_index_ge":0},"score":0.9}]},
      "thresholds":[0.3,0.7],"budget":{"high_fraction":0.5,"window":10,"warmup":10}})");
  BudgetHistories budget(*config->policy.budget);
  for (int i = 0; i < 10; ++i) budget.group(0).Record(0.9);
  // Every recent score ties at 0.9; half should go high: a low draw goes high, a high draw stays.
  RoutingDecision low_draw = DecideFor(*config, Features("act"), nullptr, &budget, 0.1);
  RoutingDecision high_draw = DecideFor(*config, Features("act"), nullptr, &budget, 0.9);
  EXPECT_EQ(low_draw.tier, 0u);
  EXPECT_EQ(high_draw.tier, 1u);
  EXPECT_TRUE(high_draw.flags & kDecisionBudgetHeld);
  EXPECT_NE(std::string(high_draw.reason).find("ties the budget threshold 0.900: drawn low (held by budget)"),
            std::string::npos)
      << high_draw.reason;
}

TEST(PolicyTest, BudgetQuantileSplitsSpreadScores) {
  auto config = Config(R"({"scorer":{"kind":"rules","rules":[
      {"when":{"context_tokens_gt":0},"score":0}]},
      "thresholds":[0.3,0.7],"budget":{"high_fraction":0.25,"window":1000,"warmup":100}})");
  BudgetQuantile budget(1000);
  // Drive scores through the budget directly: the rules give 0, so feed a spread via Record.
  for (int i = 0; i < 1000; ++i) budget.Record((i % 100) / 100.0);
  double threshold = 0;
  ASSERT_TRUE(budget.Threshold(0.25, 100, &threshold));
  EXPECT_NEAR(threshold, 0.75, 0.011);
}

TEST(PolicyTest, PhaseSplitOnLongPromptsOnTheDecodeTier) {
  auto config = Config(R"({"scorer":{"kind":"rules","default_score":1.0,"rules":[]},
      "thresholds":[0.3,0.7],"phase_split":{"min_prompt_tokens":8192,"prefill_tier":"w4","decode_tier":"bf16"}})");
  RoutingDecision short_prompt = DecideFor(*config, Features("act", 100));
  EXPECT_EQ(short_prompt.prefill_tier, short_prompt.tier);
  RoutingDecision long_prompt = DecideFor(*config, Features("act", 9000));
  EXPECT_EQ(long_prompt.tier, 0u);
  EXPECT_EQ(long_prompt.prefill_tier, 2u);
  EXPECT_TRUE(long_prompt.flags & kDecisionPhaseSplit);
}

// Two tiers, threshold 0.5; a long session sits on bf16. A score just under the boundary would move it to
// w4 and re-pay its prefill there: the governor keeps it; a clear drop moves it.
TEST(PolicyTest, GovernorKeepsALongSessionOnItsWarmTier) {
  std::string json = R"({"tiers":[
      {"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m"},
      {"name":"w4","format":"w4a16","base_url":"http://h/v1","model":"m"}],
      "policy":{"scorer":{"kind":"rules","rules":[
        {"when":{"step_kind":"high"},"score":0.9},{"when":{"step_kind":"near"},"score":0.45},
        {"when":{"step_kind":"low"},"score":0.1}]},
        "governor":{"min_context_tokens":8000,"hysteresis":0.1}}})";
  ConfigErrors errors;
  auto config = ParseRouterConfig(json, &errors);
  ASSERT_TRUE(config) << errors[0].pointer << ": " << errors[0].reason;
  SessionPolicyState state;
  EXPECT_EQ(DecideFor(*config, Features("high", 20000), &state).tier, 0u);
  RoutingDecision near = DecideFor(*config, Features("near", 20000), &state);
  EXPECT_EQ(near.tier, 0u);  // 0.45 is 0.05 from 0.5: held on bf16
  EXPECT_TRUE(near.flags & kDecisionCacheHeld);
  EXPECT_NE(std::string(near.reason).find("stays on bf16: a move re-pays ~20000 prefill tokens (margin 0.05 < 0.10)"),
            std::string::npos)
      << near.reason;
  EXPECT_EQ(DecideFor(*config, Features("low", 20000), &state).tier, 1u);  // 0.4 below: moves
  // A short session has little cache to lose: it moves at once.
  SessionPolicyState short_session;
  EXPECT_EQ(DecideFor(*config, Features("high", 100), &short_session).tier, 0u);
  EXPECT_EQ(DecideFor(*config, Features("near", 100), &short_session).tier, 1u);
}

// The same session priced by the latency model: bf16 0.5 ms per prompt token and 20 per output token,
// w4 0.2 and 8, 50 output tokens expected, 200 new tokens on a 20000-token context.
class GovernorPricingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string json = R"({"tiers":[
        {"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m"},
        {"name":"w4","format":"w4a16","base_url":"http://h/v1","model":"m"}],
        "policy":{"scorer":{"kind":"rules","rules":[
          {"when":{"step_kind":"near"},"score":0.45},{"when":{"step_kind":"low"},"score":0.1}]},
          "governor":{"min_context_tokens":8000,"hysteresis":0.1,"handoff_ms":30}}})";
    ConfigErrors errors;
    config_ = ParseRouterConfig(json, &errors);
    ASSERT_TRUE(config_) << errors[0].pointer << ": " << errors[0].reason;
    latency_.expected_output_tokens = 50;
    latency_.tiers[0] = {0.5, 20, -1, -1};
    latency_.tiers[1] = {0.2, 8, -1, -1};
  }
  // A step of `kind` for a session warm on bf16.
  RoutingDecision Step(std::string_view kind) {
    SessionPolicyState state;
    state.last_tier = 0;
    SessionFeatures features = Features(kind, 20000);
    features.new_tokens = 200;
    RoutingDecision decision;
    Decide(*config_, config_->policy, features, &state, nullptr, 0.5, &decision, &latency_);
    return decision;
  }
  std::shared_ptr<const RouterConfig> config_;
  LatencyView latency_;
};

// Stay: 200 x 0.5 + 50 x 20 = 1100 ms. Cold on w4: 20000 x 0.2 + 50 x 8 = 4400 ms: the band holds.
TEST_F(GovernorPricingTest, InsideTheBandAColdMoveDearerThanStayingStays) {
  RoutingDecision near = Step("near");
  EXPECT_EQ(near.tier, 0u);
  EXPECT_TRUE(near.flags & kDecisionCacheHeld);
  EXPECT_NE(std::string(near.reason).find("; stays on bf16: est 1100 ms vs move cold 4400 ms (margin 0.05 < 0.10)"),
            std::string::npos)
      << near.reason;
}

// With both tiers in one hand-off group the move costs 30 + 200 x 0.2 + 50 x 8 = 470 ms, under staying's
// 1100: the hysteresis no longer blocks it. The measured hand-off price replaces the configured one.
TEST_F(GovernorPricingTest, InsideTheBandAHandOffCheaperThanStayingMoves) {
  latency_.tiers[0].handoff_group = latency_.tiers[1].handoff_group = 0;
  RoutingDecision near = Step("near");
  EXPECT_EQ(near.tier, 1u);
  EXPECT_FALSE(near.flags & kDecisionCacheHeld);
  EXPECT_NE(std::string(near.reason).find("; moves with hand-off to w4: est 470 ms vs stay 1100 ms (margin 0.05 < 0.10)"),
            std::string::npos)
      << near.reason;
  latency_.tiers[1].handoff_ms = 2;
  EXPECT_NE(std::string(Step("near").reason).find("est 442 ms vs stay 1100 ms"), std::string::npos);
  // A slow hand-off (1000 ms) prices the move over staying: held again.
  latency_.tiers[1].handoff_ms = 1000;
  RoutingDecision slow = Step("near");
  EXPECT_EQ(slow.tier, 0u);
  EXPECT_NE(std::string(slow.reason).find("stays on bf16: est 1100 ms vs move with hand-off 1440 ms"), std::string::npos)
      << slow.reason;
}

// A score that clears the boundary by the hysteresis moves whatever the move costs; the reason prices it.
TEST_F(GovernorPricingTest, AClearScoreMovesAndSaysWhatItCosts) {
  RoutingDecision low = Step("low");
  EXPECT_EQ(low.tier, 1u);
  EXPECT_FALSE(low.flags & kDecisionCacheHeld);
  EXPECT_NE(std::string(low.reason).find("; moves cold to w4: est 4400 ms vs stay 1100 ms"), std::string::npos)
      << low.reason;
  EXPECT_EQ(std::string(low.reason).find("margin"), std::string::npos) << low.reason;
}

// Until both tiers are measured, the band holds as plain hysteresis.
TEST_F(GovernorPricingTest, AnUnmeasuredTierFallsBackToHysteresis) {
  latency_.tiers[0].handoff_group = latency_.tiers[1].handoff_group = 0;
  latency_.tiers[1].decode_ms_per_token = 0;
  RoutingDecision near = Step("near");
  EXPECT_EQ(near.tier, 0u);
  EXPECT_NE(std::string(near.reason).find("stays on bf16: a move re-pays ~20000 prefill tokens (margin 0.05 < 0.10)"),
            std::string::npos)
      << near.reason;
  latency_.tiers[1].decode_ms_per_token = 8;
  latency_.expected_output_tokens = 0;
  EXPECT_EQ(Step("near").tier, 0u);
}

// The phase split is an option when it would run: a session warm on w4 whose score wants bf16 just above
// the boundary. w4 and bf16 share a group and the split prefills on w4, so it prices like carrying the
// cache: 30 + 200 x 0.2 + 50 x 20 = 1070 ms against staying's 200 x 0.2 + 50 x 8 = 440: it stays, and
// the reason names the split.
TEST(PolicyTest, GovernorPricesThePhaseSplit) {
  std::string json = R"({"tiers":[
      {"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m"},
      {"name":"w4","format":"w4a16","base_url":"http://h/v1","model":"m"}],
      "policy":{"scorer":{"kind":"rules","rules":[{"when":{"step_kind":"up"},"score":0.55}]},
        "phase_split":{"min_prompt_tokens":8000,"prefill_tier":"w4","decode_tier":"bf16"},
        "governor":{"min_context_tokens":8000,"hysteresis":0.1,"handoff_ms":30}}})";
  ConfigErrors errors;
  auto config = ParseRouterConfig(json, &errors);
  ASSERT_TRUE(config) << errors[0].pointer << ": " << errors[0].reason;
  LatencyView latency;
  latency.expected_output_tokens = 50;
  latency.tiers[0] = {0.5, 20, 0, -1};
  latency.tiers[1] = {0.2, 8, 0, -1};
  SessionPolicyState state;
  state.last_tier = 1;
  SessionFeatures features = Features("up", 20000);
  features.new_tokens = 200;
  RoutingDecision decision;
  Decide(*config, config->policy, features, &state, nullptr, 0.5, &decision, &latency);
  EXPECT_EQ(decision.tier, 1u);
  // Carrying costs 30 + 200 x 0.5 + 1000 = 1130; the split's 1070 is the cheaper move.
  EXPECT_NE(std::string(decision.reason).find("stays on w4: est 440 ms vs move by split 1070 ms"), std::string::npos)
      << decision.reason;
}

// A reference that takes no cache computed at a lower precision ("carry_from_lower": false) is priced as
// a cold move from w4 even inside the hand-off group; down from it the cache still carries.
TEST(PolicyTest, GovernorPricesAMoveUpColdWhenTheReferenceRefusesLowerCaches) {
  std::string json = R"({"tiers":[
      {"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m",
       "handoff":{"kind":"vllm_disagg","group":"g","carry_from_lower":false}},
      {"name":"w4","format":"w4a16","base_url":"http://h/v1","model":"m","handoff":{"kind":"vllm_disagg","group":"g"}}],
      "policy":{"scorer":{"kind":"rules","rules":[{"when":{"step_kind":"up"},"score":0.55},
        {"when":{"step_kind":"down"},"score":0.45}]},
        "governor":{"min_context_tokens":8000,"hysteresis":0.1,"handoff_ms":30}}})";
  ConfigErrors errors;
  auto config = ParseRouterConfig(json, &errors);
  ASSERT_TRUE(config) << errors[0].pointer << ": " << errors[0].reason;
  EXPECT_TRUE(config->CanHandOff(1, 0));
  EXPECT_FALSE(config->CanCarry(1, 0));
  EXPECT_TRUE(config->CanCarry(0, 1));
  LatencyView latency;
  latency.expected_output_tokens = 50;
  latency.tiers[0] = {0.5, 20, 0, -1};
  latency.tiers[1] = {0.2, 8, 0, -1};
  const auto decide = [&](std::string_view kind, int warm) {
    SessionPolicyState state;
    state.last_tier = warm;
    SessionFeatures features = Features(kind, 20000);
    features.new_tokens = 200;
    RoutingDecision decision;
    Decide(*config, config->policy, features, &state, nullptr, 0.5, &decision, &latency);
    return decision;
  };
  RoutingDecision up = decide("up", 1);
  EXPECT_EQ(up.tier, 1u);
  EXPECT_NE(std::string(up.reason).find("stays on w4: est 440 ms vs move cold 11000 ms"), std::string::npos) << up.reason;
  RoutingDecision down = decide("down", 0);
  EXPECT_EQ(down.tier, 1u);
  EXPECT_NE(std::string(down.reason).find("moves with hand-off to w4: est 470 ms vs stay 1100 ms"), std::string::npos)
      << down.reason;
}

TEST(PolicyTest, GovernorHandoffPriceIsValidated) {
  std::string json = R"({"tiers":[{"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m"}],
      "policy":{"governor":{"handoff_ms":-1}}})";
  ConfigErrors errors;
  EXPECT_FALSE(ParseRouterConfig(json, &errors));
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].pointer, "/policy/governor/handoff_ms");
}

TEST(PolicyTest, ConditionsCombineWithAnd) {
  Condition condition;
  condition.step_kinds = {"act", "read"};
  condition.numeric.push_back({NumericFeature::kToolCalls, Condition::Comparison::kGreaterOrEqual, 2});
  condition.json_requested = false;
  SessionFeatures features = Features("act");
  SessionPolicyState state;
  features.tool_calls = 1;
  EXPECT_FALSE(ConditionHolds(condition, features, state));
  features.tool_calls = 2;
  EXPECT_TRUE(ConditionHolds(condition, features, state));
  features.json_requested = true;
  EXPECT_FALSE(ConditionHolds(condition, features, state));
}

// The budget on ladders of 2, 3 and 4 tiers. A test scorer reads the step's score from its context size
// (score = context_tokens / 1e6), so the tests can feed any score distribution through Decide.
class ScoreFromContext final : public Scorer {
 public:
  ScorerVerdict Score(const ScoringContext& context, size_t, RoutingDecision* decision) const override {
    SetReason(decision, "test");
    return {ScorerVerdict::Kind::kScore, double(context.features.context_tokens) / 1e6, 0};
  }
};

uint64_t ContextFor(double score) { return static_cast<uint64_t>(std::llround(score * 1e6)); }

struct Ladder {
  std::shared_ptr<const RouterConfig> tiers;
  PolicyConfig policy;
};

// `tier_count` tiers with evenly placed thresholds (three tiers: the shipped [0.25, 0.75]) and the
// given budget; the test scorer heads the chain.
Ladder MakeLadder(int tier_count, const std::string& budget) {
  static const char* kFormats[] = {"bf16", "fp8", "w4a16", "w3a16"};
  std::string tiers = "[";
  for (int i = 0; i < tier_count; ++i) {
    tiers += StrCat(i ? "," : "", R"({"name":")", kFormats[i], R"(","format":")", kFormats[i],
                    R"(","base_url":"http://h/v1","model":"m"})");
  }
  tiers += "]";
  std::string thresholds = tier_count == 2 ? "[0.5]" : tier_count == 3 ? "[0.25,0.75]" : "[0.25,0.5,0.75]";
  std::string policy = StrCat(R"({"scorer":{"kind":"rules","rules":[]},"thresholds":)", thresholds,
                              R"(,"budget":)", budget, "}");
  std::string json = StrCat(R"({"tiers":)", tiers, R"(,"policy":)", policy, "}");
  Ladder ladder;
  ConfigErrors errors;
  ladder.tiers = ParseRouterConfig(json, &errors);
  EXPECT_TRUE(ladder.tiers) << (errors.empty() ? "" : errors[0].pointer + ": " + errors[0].reason);
  Validator v(&errors);
  ParsePolicyConfig(boost::json::parse(json).as_object(), *ladder.tiers, v, &ladder.policy);
  EXPECT_TRUE(errors.empty());
  ladder.policy.scorers.insert(ladder.policy.scorers.begin(), std::make_unique<ScoreFromContext>());
  return ladder;
}

// What a stream of steps did, after the warm-up.
struct Realised {
  int steps = 0;
  int high = 0;
  double fraction() const { return steps ? double(high) / steps : 0; }
};

// Decides one step with `score`, counting it into `realised` when `count`. Steps the budget does not
// send to the top keep their place by the fixed lower thresholds.
void Step(const Ladder& ladder, const BudgetHistories& budget, double score, std::string_view step_kind,
          double tie_draw, bool count, Realised* realised) {
  SessionPolicyState state;
  SessionFeatures features = Features(step_kind, ContextFor(score));
  RoutingDecision decision;
  Decide(*ladder.tiers, ladder.policy, features, &state, &budget, tie_draw, &decision);
  const std::vector<uint32_t>& rungs = ladder.tiers->ladder;
  const bool high = decision.tier == rungs.back();
  if (!high) {
    uint32_t position = 0;
    const std::vector<double>& thresholds = ladder.policy.thresholds;
    for (size_t i = 0; i + 1 < thresholds.size(); ++i) position += decision.score > thresholds[i];
    EXPECT_EQ(decision.tier, rungs[position]) << "score " << decision.score << ": " << decision.reason;
  }
  if (count) {
    ++realised->steps;
    realised->high += high;
  }
}

enum class Scores { kOneValueBelow, kOneValueAbove, kDiscrete, kContinuous };

double Draw(Scores kind, std::mt19937& random) {
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  switch (kind) {
    case Scores::kOneValueBelow: return 0.2;  // under every threshold, as the shipped config's default score
    case Scores::kOneValueAbove: return 0.9;  // over every threshold
    case Scores::kDiscrete: {
      static const double kValues[] = {0.1, 0.2, 0.3, 0.6, 0.85};  // rule scores, unevenly used
      static const double kWeights[] = {0.1, 0.35, 0.3, 0.15, 0.1};
      std::discrete_distribution<int> pick(std::begin(kWeights), std::end(kWeights));
      return kValues[pick(random)];
    }
    case Scores::kContinuous: return uniform(random);
  }
  return 0;
}

// Realised top-tier fraction for K on a ladder, after the window has filled.
double RealisedHighFraction(int tier_count, Scores kind, double high_fraction) {
  Ladder ladder = MakeLadder(tier_count, StrCat(R"({"high_fraction":)", high_fraction, R"(,"window":500,"warmup":20})"));
  BudgetHistories budget(*ladder.policy.budget);
  std::mt19937 random(1234 + tier_count);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  Realised realised;
  for (int i = 0; i < 20500; ++i) Step(ladder, budget, Draw(kind, random), "act", uniform(random), i >= 500, &realised);
  return realised.fraction();
}

// K is the fraction of scored steps on the TOP tier, whatever the ladder's length and however the scores
// tie: with every score at 0.20 under thresholds [0.25, 0.75] the budget of 0.3 once sent none high.
TEST(PolicyBudgetTest, HoldsKOnTheTopTierOfEveryLadder) {
  for (int tier_count : {2, 3, 4}) {
    for (Scores kind : {Scores::kOneValueBelow, Scores::kOneValueAbove, Scores::kDiscrete, Scores::kContinuous}) {
      for (double high_fraction : {0.1, 0.3, 0.5}) {
        const double realised = RealisedHighFraction(tier_count, kind, high_fraction);
        EXPECT_NEAR(realised, high_fraction, 0.02)
            << tier_count << " tiers, scores kind " << int(kind) << ", K " << high_fraction;
      }
    }
  }
}

// Below the budget's cut, the lower thresholds place a step as they would without a budget; above the
// fixed top threshold, a step the budget holds goes to the rung under the top.
TEST(PolicyBudgetTest, LowerThresholdsKeepTheirMeaning) {
  Ladder ladder = MakeLadder(4, R"({"high_fraction":0.1,"window":100,"warmup":10})");
  BudgetHistories budget(*ladder.policy.budget);
  for (int i = 0; i < 100; ++i) budget.group(0).Record(0.95);  // the cut sits at 0.95
  auto decide = [&](double score) {
    SessionPolicyState state;
    RoutingDecision decision;
    Decide(*ladder.tiers, ladder.policy, Features("act", ContextFor(score)), &state, &budget, 0.99, &decision);
    return decision;
  };
  const std::vector<uint32_t>& rungs = ladder.tiers->ladder;
  EXPECT_EQ(decide(0.1).tier, rungs[0]);
  EXPECT_EQ(decide(0.3).tier, rungs[1]);
  EXPECT_EQ(decide(0.6).tier, rungs[2]);
  RoutingDecision held = decide(0.8);  // over the fixed 0.75, under the cut
  EXPECT_EQ(held.tier, rungs[2]);
  EXPECT_TRUE(held.flags & kDecisionBudgetHeld);
  EXPECT_EQ(decide(0.99).tier, rungs[3]);
}

// A K per step kind, each group over its own scores: "code" steps score high and hold 50%, "chat" steps
// score low and hold 10%, the rest (any other kind, however many) share the default 30%. Then the score
// distribution drifts from uniform on [0, 0.5] to uniform on [0.4, 1.0]: once each group's window has
// refilled, each holds its K again.
TEST(PolicyBudgetTest, EachKeyHoldsItsOwnKThroughDrift) {
  for (int tier_count : {2, 3, 4}) {
    Ladder ladder = MakeLadder(tier_count, R"({"high_fraction":0.3,"window":400,"warmup":20,
        "per":"step_kind","fractions":{"code":0.5,"chat":0.1}})");
    BudgetHistories budget(*ladder.policy.budget);
    ASSERT_EQ(budget.size(), 3u);
    std::mt19937 random(99);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    static const char* kKinds[] = {"code", "chat", "other1", "other2"};
    static const double kFractions[] = {0.5, 0.1, 0.3, 0.3};
    for (bool drifted : {false, true}) {
      Realised realised[4];
      // Each kind's group sees ~1/4 (the others' 1/2) of 24000 steps; the first 2400 refill every window.
      for (int i = 0; i < 24000; ++i) {
        const int kind = static_cast<int>(random() % 4);
        const double score = drifted ? 0.4 + 0.6 * uniform(random) : 0.5 * uniform(random);
        Step(ladder, budget, score, kKinds[kind], uniform(random), i >= 2400, &realised[kind]);
      }
      for (int kind = 0; kind < 2; ++kind) {
        EXPECT_NEAR(realised[kind].fraction(), kFractions[kind], 0.02)
            << tier_count << " tiers, " << kKinds[kind] << (drifted ? ", drifted" : "");
      }
      Realised shared{realised[2].steps + realised[3].steps, realised[2].high + realised[3].high};
      EXPECT_NEAR(shared.fraction(), 0.3, 0.02) << tier_count << " tiers, others" << (drifted ? ", drifted" : "");
    }
  }
}

// Grouped by task type: the session's task type picks the group; an unknown one shares the default.
TEST(PolicyBudgetTest, GroupsByTaskType) {
  Ladder ladder = MakeLadder(3, R"({"high_fraction":0.2,"window":200,"warmup":20,
      "per":"task_type","fractions":{"coding":0.6}})");
  BudgetHistories budget(*ladder.policy.budget);
  std::mt19937 random(5);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  Realised coding, other;
  for (int i = 0; i < 20000; ++i) {
    SessionPolicyState state;
    const bool is_coding = i % 2 == 0;
    state.task_type.Assign(is_coding ? "coding" : (i % 4 == 1 ? "chat" : "something-a-host-made-up"));
    RoutingDecision decision;
    Decide(*ladder.tiers, ladder.policy, Features("act", ContextFor(uniform(random))), &state, &budget,
           uniform(random), &decision);
    if (i < 1000) continue;
    Realised& group = is_coding ? coding : other;
    ++group.steps;
    group.high += decision.tier == ladder.tiers->ladder.back();
    if (i == 19998) {
      EXPECT_NE(std::string(decision.reason).find(" for coding"), std::string::npos) << decision.reason;
    }
  }
  EXPECT_NEAR(coding.fraction(), 0.6, 0.02);
  EXPECT_NEAR(other.fraction(), 0.2, 0.02);
  EXPECT_EQ(budget.group(0).recorded() + budget.group(1).recorded(), 20000u);
}

std::string BudgetErrors(const std::string& budget) {
  std::string json = StrCat(R"({"tiers":[{"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m"},
      {"name":"w4","format":"w4a16","base_url":"http://h/v1","model":"m"}],"policy":{"budget":)", budget, "}}");
  ConfigErrors errors;
  EXPECT_FALSE(ParseRouterConfig(json, &errors)) << budget;
  return JoinErrors(errors);
}

TEST(PolicyBudgetTest, ValidatesKeysWithPointers) {
  EXPECT_NE(BudgetErrors(R"({"high_fraction":0.3,"per":"tool","fractions":{"a":0.1}})")
                .find("/policy/budget/per: unknown grouping \"tool\""),
            std::string::npos);
  EXPECT_NE(BudgetErrors(R"({"high_fraction":0.3,"per":"step_kind","fractions":{"code":1.5}})")
                .find("/policy/budget/fractions/code: out of range: 1.5 is not in [0, 1]"),
            std::string::npos);
  EXPECT_NE(BudgetErrors(R"({"high_fraction":0.3,"per":"step_kind","fractions":{"a/b":"x"}})")
                .find("/policy/budget/fractions/a~1b: expected a number, got a string"),
            std::string::npos);
  EXPECT_NE(BudgetErrors(R"({"high_fraction":0.3,"fractions":{"code":0.5}})")
                .find("/policy/budget/fractions: \"per\" and \"fractions\" go together"),
            std::string::npos);
  EXPECT_NE(BudgetErrors(R"({"high_fraction":0.3,"per":"step_kind"})").find("/policy/budget/per: \"per\" and"),
            std::string::npos);
  EXPECT_NE(BudgetErrors(R"({"high_fraction":0.3,"per":"step_kind","fractions":{"":0.5}})")
                .find("/policy/budget/fractions/: a key is 1 to 31 bytes long"),
            std::string::npos);
  std::string many = "{";
  for (int i = 0; i <= 32; ++i) many += StrCat(i ? "," : "", "\"k", i, "\":0.1");
  many += "}";
  EXPECT_NE(BudgetErrors(StrCat(R"({"high_fraction":0.3,"per":"step_kind","fractions":)", many, "}"))
                .find("/policy/budget/fractions: too many keys: 33 (at most 32)"),
            std::string::npos);
}

}  // namespace
}  // namespace quantclaw
