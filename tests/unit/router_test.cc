#include "router/router.h"

#include <thread>

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

}  // namespace
}  // namespace quantclaw
