#include "router/router.h"
#include "router/config_snapshot.h"

#include <chrono>
#include <map>
#include <thread>

#include "absl/strings/str_split.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "quantclaw/v1/outcome.pb.h"
#include "quantclaw/v1/step.pb.h"

namespace quantclaw {
namespace {

std::string ConfigJson(const std::string& extra = "") {
  return R"({"tiers":[
      {"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m"},
      {"name":"w4","format":"w4a16","base_url":"http://h/v1","model":"m"}],
      "policy":{"force":[{"when":{"step_kind":"search"},"tier":"bf16"}],
                "scorer":{"kind":"rules","default_score":0.1,"rules":[{"when":{"recent_tool_errors_ge":1},"score":0.9}]}})" +
         extra + "}";
}

v1::Step Step(const std::string& json) {
  v1::Step step;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &step).ok()) << json;
  return step;
}

std::unique_ptr<Router> MakeRouter(const std::string& json) {
  auto router = Router::Create(json);
  EXPECT_TRUE(router.ok()) << router.status();
  return router.ok() ? *std::move(router) : nullptr;
}

std::string Choose(Router& router, const std::string& session) {
  Choice choice;
  absl::Status status = router.Choose(session, &choice);
  return status.ok() ? std::string(choice.tier_name) : "error: " + std::string(status.message());
}

TEST(RouterTest, StepsThenDecisions) {
  auto router = MakeRouter(ConfigJson());
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a","messages":[{"role":"user","content":"go"}]})")).ok());
  EXPECT_EQ(Choose(*router, "a"), "w4");
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a","hints":{"step_kind":"search"}})")).ok());
  EXPECT_EQ(Choose(*router, "a"), "bf16");
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a","messages":[{"role":"tool","content":"error: 404"}]})")).ok());
  EXPECT_EQ(Choose(*router, "a"), "bf16");  // the tool error scores 0.9
  EXPECT_EQ(Choose(*router, "nobody").substr(0, 24), "error: unknown session \"");
}

v1::Outcome Outcome(const std::string& json) {
  v1::Outcome outcome;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &outcome).ok()) << json;
  return outcome;
}

// A host that makes its own calls reports failed ones; after backend.breaker_failures of them the
// tier's breaker opens and decisions move up the ladder, saying why, until the open time is up.
TEST(RouterTest, ReportedFailuresOpenTheBreakerAndDecisionsMoveUp) {
  auto router = MakeRouter(ConfigJson(R"(,"backend":{"breaker_failures":2,"breaker_open_ms":300})"));
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a","messages":[{"role":"user","content":"go"}]})")).ok());
  EXPECT_EQ(Choose(*router, "a"), "w4");
  const char* down = R"({"session_id":"a","tier_name":"w4","status":"OUTCOME_STATUS_UNAVAILABLE"})";
  const char* refused = R"({"session_id":"a","tier_name":"w4","status":"OUTCOME_STATUS_ERROR","http_status":400})";
  const char* server_error = R"({"session_id":"a","tier_name":"w4","status":"OUTCOME_STATUS_ERROR","http_status":503})";
  ASSERT_TRUE(router->ReportOutcome(Outcome(down)).ok());
  ASSERT_TRUE(router->ReportOutcome(Outcome(refused)).ok());  // the tier refused the request: not down
  EXPECT_EQ(Choose(*router, "a"), "w4");                      // one failure: still closed
  ASSERT_TRUE(router->ReportOutcome(Outcome(server_error)).ok());
  Choice choice;
  ASSERT_TRUE(router->Choose("a", &choice).ok());
  EXPECT_STREQ(choice.tier_name, "bf16");
  EXPECT_NE(std::string(choice.decision.reason).find("failover: w4's circuit breaker is open -> bf16"),
            std::string::npos)
      << choice.decision.reason;
  EXPECT_NE(router->MetricsText().find("quantclaw_decision_failovers_total{tier=\"w4\"} 1\n"), std::string::npos);
  EXPECT_NE(router->MetricsText().find("quantclaw_breaker_open{tier=\"w4\"} 1\n"), std::string::npos);
  // Once the open time is up, the tier gets its trial call; a success closes the breaker.
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  EXPECT_EQ(Choose(*router, "a"), "w4");
  ASSERT_TRUE(router->ReportOutcome(Outcome(R"({"session_id":"a","tier_name":"w4","status":"OUTCOME_STATUS_OK"})")).ok());
  ASSERT_TRUE(router->ReportOutcome(Outcome(down)).ok());
  EXPECT_EQ(Choose(*router, "a"), "w4");  // one failure after the success: closed
}

TEST(RouterTest, WithoutFailoverAnOpenBreakerIsOnlySaid) {
  auto router = MakeRouter(ConfigJson(R"(,"backend":{"breaker_failures":1,"failover":false})"));
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a","messages":[{"role":"user","content":"go"}]})")).ok());
  ASSERT_TRUE(router->ReportOutcome(Outcome(R"({"session_id":"a","tier_name":"w4","status":"OUTCOME_STATUS_TIMEOUT"})")).ok());
  Choice choice;
  ASSERT_TRUE(router->Choose("a", &choice).ok());
  EXPECT_STREQ(choice.tier_name, "w4");
  EXPECT_NE(std::string(choice.decision.reason).find("circuit breaker is open (backend.failover is off)"),
            std::string::npos)
      << choice.decision.reason;
}

TEST(RouterTest, WhenEveryTierAboveIsOpenTheDecisionStaysAndSaysSo) {
  auto router = MakeRouter(ConfigJson(R"(,"backend":{"breaker_failures":1})"));
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a","messages":[{"role":"user","content":"go"}]})")).ok());
  for (const char* tier : {"w4", "bf16"}) {
    ASSERT_TRUE(router->ReportOutcome(Outcome(std::string(R"({"session_id":"a","tier_name":")") + tier +
                                              R"(","status":"OUTCOME_STATUS_UNAVAILABLE"})")).ok());
  }
  Choice choice;
  ASSERT_TRUE(router->Choose("a", &choice).ok());
  EXPECT_STREQ(choice.tier_name, "w4");
  EXPECT_NE(std::string(choice.decision.reason).find("every tier from w4 up has its circuit breaker open"),
            std::string::npos)
      << choice.decision.reason;
}

TEST(RouterTest, RejectedStepChangesNothing) {
  auto router = MakeRouter(ConfigJson());
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a","step_index":3})")).ok());
  absl::Status stale = router->OnStep(Step(R"({"session_id":"a","step_index":3,
      "messages":[{"role":"tool","content":"error"}]})"));
  EXPECT_EQ(stale.code(), absl::StatusCode::kFailedPrecondition);
  absl::Status bad_hint = router->OnStep(Step(R"({"session_id":"a","step_index":4,"hints":{"force_tier":"fp4"},
      "messages":[{"role":"tool","content":"error"}]})"));
  EXPECT_EQ(bad_hint.code(), absl::StatusCode::kInvalidArgument);
  Choice choice;
  ASSERT_TRUE(router->Choose("a", &choice).ok());
  EXPECT_EQ(choice.step_index, 3u);
  EXPECT_STREQ(choice.tier_name, "w4");  // no tool error was recorded
}

TEST(RouterTest, InvalidToolCallOutcomeEscalates) {
  auto router = MakeRouter(ConfigJson());
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a"})")).ok());
  EXPECT_EQ(Choose(*router, "a"), "w4");
  v1::Outcome outcome;
  outcome.set_session_id("a");
  outcome.set_tier_name("w4");
  outcome.set_tool_call_valid(false);
  ASSERT_TRUE(router->ReportOutcome(outcome).ok());
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a"})")).ok());
  EXPECT_EQ(Choose(*router, "a"), "bf16");
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a"})")).ok());
  EXPECT_EQ(Choose(*router, "a"), "w4");
  outcome.set_tier_name("nope");
  EXPECT_EQ(router->ReportOutcome(outcome).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RouterTest, LeastRecentlyUsedSessionIsEvicted) {
  auto router = MakeRouter(ConfigJson(R"(,"limits":{"max_sessions":3})"));
  for (const char* id : {"s1", "s2", "s3"}) {
    ASSERT_TRUE(router->OnStep(Step(std::string(R"({"session_id":")") + id + "\"}")).ok());
  }
  EXPECT_EQ(Choose(*router, "s1"), "w4");  // s1 is now the most recent; s2 the oldest
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"s4"})")).ok());
  EXPECT_EQ(router->session_count(), 3u);
  EXPECT_EQ(Choose(*router, "s2").substr(0, 22), "error: unknown session");
  EXPECT_EQ(Choose(*router, "s1"), "w4");
  EXPECT_EQ(Choose(*router, "s3"), "w4");
  EXPECT_EQ(router->metrics().sessions_evicted.load(), 1u);
}

TEST(RouterTest, IdleSessionsExpire) {
  auto router = MakeRouter(ConfigJson(R"(,"limits":{"session_idle_seconds":1})"));
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a"})")).ok());
  EXPECT_EQ(Choose(*router, "a"), "w4");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(Choose(*router, "a").substr(0, 22), "error: unknown session");
  EXPECT_EQ(router->metrics().sessions_expired.load(), 1u);
  EXPECT_EQ(router->session_count(), 0u);
}

TEST(RouterTest, ReloadSwapsConfigAndKeepsSessions) {
  auto router = MakeRouter(ConfigJson());
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a"})")).ok());
  EXPECT_EQ(Choose(*router, "a"), "w4");
  std::string all_high = R"({"tiers":[
      {"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m"},
      {"name":"w4","format":"w4a16","base_url":"http://h/v1","model":"m"}],
      "policy":{"scorer":{"kind":"rules","default_score":1.0,"rules":[]}}})";
  ASSERT_TRUE(router->Reload(all_high).ok());
  EXPECT_EQ(Choose(*router, "a"), "bf16");
  absl::Status bad = router->Reload(R"({"tiers":[]})");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Choose(*router, "a"), "bf16");  // the old config stays in force
}

// A reload may add, drop or reorder tiers; whatever is kept by tier index must follow its tier by name.
std::string ThreeTiers(const std::string& order, double default_score) {
  const std::map<std::string, std::string> tiers = {
      {"bf16", R"({"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m"})"},
      {"int8", R"({"name":"int8","format":"int8","base_url":"http://h/v1","model":"m"})"},
      {"w4", R"({"name":"w4","format":"w4a16","base_url":"http://h/v1","model":"m"})"}};
  std::string list;
  for (absl::string_view name : absl::StrSplit(order, ',')) list += (list.empty() ? "" : ",") + tiers.at(std::string(name));
  return R"({"tiers":[)" + list + R"(],"policy":{"scorer":{"kind":"rules","default_score":)" +
         std::to_string(default_score) +
         R"(,"rules":[]},"governor":{"min_context_tokens":1,"hysteresis":0.5}}})";
}

Choice Decide(Router& router, const std::string& session, int step) {
  EXPECT_TRUE(router.OnStep(Step(R"({"session_id":")" + session + R"(","step_index":)" + std::to_string(step) +
                                 R"(,"messages":[{"role":"user","content":"a long enough question"}]})"))
                  .ok());
  Choice choice;
  EXPECT_TRUE(router.Choose(session, &choice).ok());
  return choice;
}

TEST(RouterTest, AReloadThatReordersTiersKeepsTheWarmTierByName) {
  auto router = MakeRouter(ThreeTiers("bf16,int8,w4", 0.9));
  EXPECT_STREQ(Decide(*router, "a", 0).tier_name, "bf16");  // its cache is warm now
  // bf16 moves from index 0 to 2, w4 from 2 to 0. A score of 0.6 would pick int8, but near the boundary
  // (margin 0.07 < hysteresis 0.5) the session stays where its cache is: on bf16, wherever it now sits.
  ASSERT_TRUE(router->Reload(ThreeTiers("w4,int8,bf16", 0.6)).ok());
  Choice held = Decide(*router, "a", 1);
  EXPECT_STREQ(held.tier_name, "bf16") << held.decision.reason;
  EXPECT_TRUE(held.decision.flags & kDecisionCacheHeld) << held.decision.reason;
  // Per-tier counters follow too: bf16 made both decisions, w4 none.
  const std::string metrics = router->MetricsText();
  EXPECT_NE(metrics.find("quantclaw_decisions_by_tier_total{tier=\"bf16\"} 2\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_decisions_by_tier_total{tier=\"w4\"} 0\n"), std::string::npos) << metrics;
}

TEST(RouterTest, AReloadThatDropsTheWarmTierForgetsIt) {
  auto router = MakeRouter(ThreeTiers("w4,int8,bf16", 0.9));
  EXPECT_STREQ(Decide(*router, "a", 0).tier_name, "bf16");  // index 2
  ASSERT_TRUE(router->Reload(ThreeTiers("w4,int8", 0.1)).ok());
  Choice next = Decide(*router, "a", 1);  // index 2 is past the new ladder: must not be read
  EXPECT_STREQ(next.tier_name, "w4") << next.decision.reason;
  EXPECT_FALSE(next.decision.flags & kDecisionCacheHeld) << next.decision.reason;
  // A tier added later at that index starts from zero, not from the dropped tier's counts.
  ASSERT_TRUE(router->Reload(ThreeTiers("w4,int8,bf16", 0.1)).ok());
  const std::string metrics = router->MetricsText();
  EXPECT_NE(metrics.find("quantclaw_decisions_by_tier_total{tier=\"bf16\"} 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_decisions_by_tier_total{tier=\"w4\"} 1\n"), std::string::npos) << metrics;
}

// The router hands the governor what it measured: before any timed call the band holds the session on its
// warm tier (plain hysteresis); once both tiers have reported calls, the move is priced from their
// pooled coefficients. bf16: 100 ms first token for 1000 prompt tokens (0.1 ms each), 1000 ms for 100
// output tokens (10 each); w4: 0.03 and 3. With 100 output tokens expected, staying costs about 1000 ms
// and moving cold about 300.
TEST(RouterTest, TheGovernorPricesMovesFromMeasuredCalls) {
  auto router = MakeRouter(R"({"tiers":[
      {"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m"},
      {"name":"w4","format":"w4a16","base_url":"http://h/v1","model":"m"}],
      "policy":{"force":[{"when":{"step_kind":"search"},"tier":"bf16"}],
                "scorer":{"kind":"rules","default_score":0.1,"rules":[]},
                "governor":{"min_context_tokens":0,"hysteresis":0.5}}})");
  ASSERT_NE(router, nullptr);
  const auto decide = [&](const std::string& session) {
    EXPECT_TRUE(router->OnStep(Step(R"({"session_id":")" + session + R"(","hints":{"step_kind":"search"},
        "messages":[{"role":"user","content":"find it"}]})")).ok());
    Choice choice;
    EXPECT_TRUE(router->Choose(session, &choice).ok());  // forced onto bf16: its cache is warm
    EXPECT_TRUE(router->OnStep(Step(R"({"session_id":")" + session + R"(","messages":[{"role":"tool","content":"ok"}]})")).ok());
    EXPECT_TRUE(router->Choose(session, &choice).ok());
    return choice;
  };
  Choice unmeasured = decide("a");
  EXPECT_STREQ(unmeasured.tier_name, "bf16");
  EXPECT_NE(std::string(unmeasured.decision.reason).find("stays on bf16: a move re-pays"), std::string::npos)
      << unmeasured.decision.reason;

  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"m","messages":[{"role":"user","content":"x"}]})")).ok());
  ASSERT_TRUE(router->ReportOutcome(Outcome(R"({"session_id":"m","tier_name":"bf16","status":"OUTCOME_STATUS_OK",
      "input_tokens":1000,"output_tokens":100,"latency_ms":1100,"ttft_ms":100})")).ok());
  ASSERT_TRUE(router->ReportOutcome(Outcome(R"({"session_id":"m","tier_name":"w4","status":"OUTCOME_STATUS_OK",
      "input_tokens":1000,"output_tokens":100,"latency_ms":330,"ttft_ms":30})")).ok());
  Choice priced = decide("b");
  EXPECT_STREQ(priced.tier_name, "w4");
  EXPECT_NE(std::string(priced.decision.reason).find("moves cold to w4: est 300 ms vs stay 1000 ms (margin 0.40 < 0.50)"),
            std::string::npos)
      << priced.decision.reason;
}

TEST(RouterTest, EndSession) {
  auto router = MakeRouter(ConfigJson());
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a"})")).ok());
  EXPECT_TRUE(router->EndSession("a").ok());
  EXPECT_EQ(router->EndSession("a").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(router->session_count(), 0u);
}

TEST(RouterTest, SessionStateStaysUnderFourKiB) {
  Session session;
  session.id.assign(64, 'x');
  EXPECT_LE(SessionTable::SessionFootprint(session), 4096u);
}

TEST(RouterTest, MetricsText) {
  auto router = MakeRouter(ConfigJson());
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a"})")).ok());
  Choose(*router, "a");
  std::string text = router->MetricsText();
  EXPECT_NE(text.find("quantclaw_steps_total 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("quantclaw_decisions_by_tier_total{tier=\"w4\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("quantclaw_sessions_active 1\n"), std::string::npos) << text;
}

// A user message that runs out the QuantClaw patterns' step budget is counted.
TEST(RouterTest, PatternBudgetExhaustionIsCounted) {
  auto router = MakeRouter(R"json({"tiers":[
      {"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m"},
      {"name":"w4","format":"w4a16","base_url":"http://h/v1","model":"m"}],
      "policy":{"scorer":{"kind":"quantclaw","quant":{"defaultTaskType":"x","taskTypes":[
        {"id":"x","precision":"4bit","patterns":["(?=.*(?:a|aa)+c)"]}]}}}})json");
  ASSERT_NE(router, nullptr);
  std::string hostile = "c\\n";
  while (hostile.size() < 64 * 1024) hostile += std::string(30, 'a') + "\\n";
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a","messages":[{"role":"user","content":"aac"}]})")).ok());
  EXPECT_NE(router->MetricsText().find("quantclaw_pattern_budget_exhausted_total 0\n"), std::string::npos);
  ASSERT_TRUE(router->OnStep(Step(R"({"session_id":"a","messages":[{"role":"user","content":")" + hostile +
                                  R"("}]})")).ok());
  EXPECT_NE(router->MetricsText().find("quantclaw_pattern_budget_exhausted_total 1\n"), std::string::npos);
}

TEST(RouterTest, ConcurrentSessions) {
  auto router = MakeRouter(ConfigJson());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int s = 0; s < 50; ++s) {
        std::string id = "t" + std::to_string(t) + "s" + std::to_string(s);
        for (int i = 0; i < 4; ++i) {
          std::string content = i == 2 ? "error: boom" : "ok";
          if (!router->OnStep(Step(R"({"session_id":")" + id + R"(","messages":[{"role":"tool","content":")" +
                                   content + "\"}]}"))
                   .ok()) {
            ++failures;
          }
          std::string expected = i >= 2 ? "bf16" : "w4";
          if (Choose(*router, id) != expected) ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(router->session_count(), 400u);
}

std::shared_ptr<const RouterConfig> BudgetConfigWith(const std::string& budget) {
  ConfigErrors errors;
  auto config = ParseRouterConfig(R"({"tiers":[
      {"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m"},
      {"name":"w4","format":"w4a16","base_url":"http://h/v1","model":"m"}],"policy":{"budget":)" + budget + "}}",
                                  &errors);
  EXPECT_TRUE(config) << JoinErrors(errors);
  return config;
}

// A reload keeps each group's score history when the group (grouping and key) and the window stay; a
// new key starts empty, and a changed window or grouping starts every group afresh.
TEST(ConfigSnapshotTest, BudgetHistoriesCarryOverPerKey) {
  auto first = ConfigSnapshot::Make(
      BudgetConfigWith(R"({"high_fraction":0.3,"window":100,"per":"step_kind","fractions":{"code":0.5,"chat":0.1}})"),
      nullptr);
  ASSERT_EQ(first->budget->size(), 3u);
  for (size_t group = 0; group < 3; ++group) {
    for (size_t i = 0; i <= group; ++i) first->budget->group(group).Record(0.5);
  }
  // Fractions changed, "chat" dropped, "plan" added: "code" and the shared group keep their histories.
  auto second = ConfigSnapshot::Make(
      BudgetConfigWith(R"({"high_fraction":0.2,"window":100,"per":"step_kind","fractions":{"plan":0.4,"code":0.7}})"),
      first.get());
  ASSERT_EQ(second->budget->size(), 3u);
  EXPECT_EQ(&second->budget->group(0), &first->budget->group(0));
  EXPECT_EQ(second->budget->group(1).recorded(), 0u);                // plan: new
  EXPECT_EQ(&second->budget->group(2), &first->budget->group(1));  // code
  EXPECT_EQ(second->budget->group(2).recorded(), 2u);
  auto regrouped = ConfigSnapshot::Make(
      BudgetConfigWith(R"({"high_fraction":0.2,"window":100,"per":"task_type","fractions":{"code":0.7}})"),
      second.get());
  EXPECT_EQ(regrouped->budget->group(0).recorded(), 0u);
  EXPECT_EQ(regrouped->budget->group(1).recorded(), 0u);
  auto rewindowed = ConfigSnapshot::Make(
      BudgetConfigWith(R"({"high_fraction":0.2,"window":200,"per":"step_kind","fractions":{"code":0.7}})"),
      second.get());
  EXPECT_EQ(rewindowed->budget->group(1).recorded(), 0u);
  auto ungrouped = ConfigSnapshot::Make(BudgetConfigWith(R"({"high_fraction":0.2,"window":100})"), nullptr);
  auto still_ungrouped = ConfigSnapshot::Make(BudgetConfigWith(R"({"high_fraction":0.5,"window":100})"), ungrouped.get());
  EXPECT_EQ(&still_ungrouped->budget->group(0), &ungrouped->budget->group(0));
}

}  // namespace
}  // namespace quantclaw
