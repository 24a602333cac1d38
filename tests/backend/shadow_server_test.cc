// Shadow scoring over real HTTP against a loopback double of llama-server's and vLLM's scoring endpoints
// (shadow_server.py): positions llama-server gives no probabilities for, vLLM's prompt_logprobs, and a
// host that makes its own calls and reports the sampled step's request and action in its outcome.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "backend/http_client.h"
#include "backend/shadow.h"
#include "child_server.h"
#include "router/router.h"
#include "telemetry/trace_file.h"
#include "quantclaw/v1/outcome.pb.h"
#include "quantclaw/v1/step.pb.h"

namespace quantclaw {
namespace {

namespace json = boost::json;

// The double as a child process (child_server.h), with its record of what it was sent.
class Double : public quantclaw_test::ChildServer {
 public:
  Double() : ChildServer("shadow double", QC_SHADOW_SERVER_SCRIPT) {}
  std::string Url(const std::string& tier) const { return "http://127.0.0.1:" + std::to_string(port()) + "/" + tier + "/v1"; }

  // What it was sent since the last Reset: [{"path", "body"}].
  json::array Requests(HttpClient& http) const {
    HttpRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(port()) + "/requests";
    request.body = "{}";
    HttpResponse response;
    EXPECT_TRUE(http.Post(request, nullptr, &response).ok());
    return json::parse(response.body).as_array();
  }
  void Reset(HttpClient& http) const {
    HttpRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(port()) + "/reset";
    request.body = "{}";
    HttpResponse response;
    EXPECT_TRUE(http.Post(request, nullptr, &response).ok());
  }
};

Double* g_double = nullptr;

class ShadowServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { g_double = new Double(); }
  static void TearDownTestSuite() {
    delete g_double;
    g_double = nullptr;
  }

  // A job scoring `action` after one user message, reference tier `reference` against `low`.
  std::unique_ptr<ShadowJob> Job(const std::string& reference, const std::string& low, const std::string& action,
                                 ShadowMethod method = ShadowMethod::kLlamaServer) {
    auto tiers = std::make_shared<TierTable>();
    tiers->tiers.resize(2);
    for (auto [index, name] : {std::pair{0, low}, std::pair{1, reference}}) {
      tiers->tiers[index].name = name;
      tiers->tiers[index].model = name;
      tiers->tiers[index].base_url = g_double->Url(name);
    }
    auto shadow = std::make_shared<ShadowConfig>();
    shadow->method = method;
    shadow->timeout_ms = 10000;
    auto job = std::make_unique<ShadowJob>();
    job->tiers = tiers;
    job->shadow = shadow;
    job->backend = std::make_shared<BackendConfig>();
    job->reference_tier = 1;
    job->low_tier = 0;
    job->request = json::parse(R"({"messages": [{"role": "user", "content": "add 2 and 3"}]})").as_object();
    job->action = action;
    return job;
  }

  HttpClient http_;
  std::atomic<bool> stopping_{false};
};

// KL of the double's two distributions after any token: ref {0.5, 0.3, 0.1} and low {0.3, 0.3, 0.3}
// over the same three tokens, the tails 0.1 each in "other" (TopKKl's buckets).
double DoubleKl() {
  auto list = [](std::initializer_list<double> probabilities) {
    std::vector<TokenLogprob> top;
    int64_t token = 0;
    for (double p : probabilities) top.push_back({token++, std::log(p)});
    return top;
  };
  return TopKKl(list({0.5, 0.3, 0.1}), list({0.3, 0.3, 0.3}));
}

TEST_F(ShadowServerTest, LlamaServerScoresEveryPositionTeacherForced) {
  auto job = Job("ref", "low", "sum: 5");
  ShadowScore score;
  ASSERT_TRUE(ScoreOnLlamaServer(http_, *job, stopping_, &score).ok());
  EXPECT_EQ(score.positions, 6u);  // one token per byte
  EXPECT_NEAR(score.kl, DoubleKl(), 1e-9);
}

TEST_F(ShadowServerTest, APositionWithoutProbabilitiesIsSkippedNotTheStep) {
  // "é" is two bytes (two tokens). After "a\xC3" and after "a\xC3\xA9" the token llama-server generates
  // is a lone byte of a multi-byte character (0xC4, 0xAA), which it holds back: the answer has no
  // completion_probabilities at those two positions. The other positions still count.
  auto job = Job("ref-holdback", "low-holdback", "a\xC3\xA9 b");
  ShadowScore score;
  absl::Status status = ScoreOnLlamaServer(http_, *job, stopping_, &score);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(score.positions, 3u);  // 5 tokens, 2 skipped
  EXPECT_NEAR(score.kl, DoubleKl(), 1e-9);
  // A skip on one tier alone skips the position too.
  job = Job("ref", "low-holdback", "a\xC3\xA9 b");
  ASSERT_TRUE(ScoreOnLlamaServer(http_, *job, stopping_, &score).ok());
  EXPECT_EQ(score.positions, 3u);
}

TEST_F(ShadowServerTest, NoPositionWithProbabilitiesOnBothTiersFailsClearly) {
  auto job = Job("ref", "low-silent", "sum: 5");
  ShadowScore score;
  absl::Status status = ScoreOnLlamaServer(http_, *job, stopping_, &score);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("no position of the action had completion_probabilities"), std::string::npos)
      << status;
  EXPECT_NE(status.message().find("ref and low-silent"), std::string::npos) << status;
}

TEST_F(ShadowServerTest, VllmScoresEveryPositionInOneCallPerTier) {
  g_double->Reset(http_);
  auto job = Job("ref", "low", "sum: 5", ShadowMethod::kVllm);
  ShadowScore score;
  absl::Status status = ScoreOnVllm(http_, *job, stopping_, &score);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(score.positions, 6u);
  // Both tiers list the same three tokens everywhere, and the prompt's own token that vLLM adds when it
  // is not among them comes with the same logprob on both: the double's KL at every position.
  EXPECT_NEAR(score.kl, DoubleKl(), 1e-9);
  // Two /tokenize on the reference (the templated messages, the action), one /v1/completions per tier.
  std::vector<std::string> paths;
  size_t prompt_tokens = 0;
  for (const json::value& entry : g_double->Requests(http_)) {
    paths.push_back(std::string(entry.at("path").as_string()));
    const json::object& body = entry.at("body").as_object();
    if (paths.back().ends_with("/v1/completions")) {
      EXPECT_EQ(body.at("prompt_logprobs").as_int64(), 20);
      EXPECT_EQ(body.at("max_tokens").as_int64(), 1);
      prompt_tokens = body.at("prompt").as_array().size();
    }
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"/ref/tokenize", "/ref/tokenize", "/ref/v1/completions",
                                             "/low/v1/completions"}));
  // "<user>add 2 and 3\n<assistant>" then the action's six bytes.
  EXPECT_EQ(prompt_tokens, std::string("<user>add 2 and 3\n<assistant>").size() + 6);
}

TEST_F(ShadowServerTest, VllmAnswersOfTheWrongShapeAreClearErrors) {
  // A llama-server tier asked in vLLM's shape: its /tokenize wants "content" (the double answers
  // "tokens" for "content" only when given it; given "prompt" it checks "model" like vLLM).
  auto job = Job("ref", "low", "sum: 5", ShadowMethod::kVllm);
  auto tiers = std::make_shared<TierTable>(*job->tiers);
  tiers->tiers[0].model = "not-the-served-model";
  job->tiers = tiers;
  ShadowScore score;
  absl::Status status = ScoreOnVllm(http_, *job, stopping_, &score);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find("low /v1/completions: HTTP 400"), std::string::npos) << status;
}

// ---------------------------------------------------------------------------------------------------
// A host that makes its own calls (qc_on_step, qc_choose_precision, its own request, qc_report_outcome).

std::string RouterConfigJson(const std::string& trace_path, const std::string& method) {
  return R"({"tiers": [
      {"name": "low", "format": "int4", "base_url": ")" + g_double->Url("low") + R"(", "model": "low"},
      {"name": "ref", "format": "bf16", "base_url": ")" + g_double->Url("ref") + R"(", "model": "ref"}],
    "reference_tier": "ref",
    "policy": {"scorer": {"kind": "rules", "default_score": 0.2, "rules": [{"when": {"step_kind": "final"}, "score": 0.8}]}, "thresholds": [0.5]},
    "shadow": {"rate": 1, "trace_path": ")" + trace_path + R"(", "action_tokens": 8, "method": ")" + method + R"("}})";
}

void HostMakesItsOwnCallsAndTracesAppear(const std::string& method) {
  const std::string directory =
      testing::TempDir() + "/shadow-host-" + method + "-" + std::to_string(getpid());
  std::filesystem::remove_all(directory);
  auto router = Router::Create(RouterConfigJson(directory, method));
  ASSERT_TRUE(router.ok()) << router.status();
  v1::Step step;
  step.set_session_id("host");
  step.set_step_index(7);
  v1::ChatMessage* message = step.add_messages();
  message->set_role("user");
  message->mutable_content()->set_string_value("add 2 and 3");
  ASSERT_TRUE((*router)->OnStep(step).ok());
  Choice choice;
  ASSERT_TRUE((*router)->Choose("host", &choice).ok());
  ASSERT_TRUE(choice.decision.flags & kDecisionShadowSampled);
  EXPECT_EQ(choice.decision.tier, 0u);  // 0.2 below 0.5: the low tier serves

  // The host sent this itself and got "sum: 5" back.
  v1::Outcome outcome;
  outcome.set_session_id("host");
  outcome.set_step_index(7);
  outcome.set_tier_name("low");
  outcome.set_status(v1::OUTCOME_STATUS_OK);
  outcome.set_output_tokens(6);
  outcome.set_latency_ms(12.5);
  outcome.set_request_json(R"({"model": "low", "messages": [{"role": "user", "content": "add 2 and 3"}]})");
  outcome.set_response_json(R"({"choices": [{"message": {"role": "assistant", "content": "sum: 5"}}]})");
  ASSERT_TRUE((*router)->ReportOutcome(outcome).ok());
  ASSERT_TRUE((*router)->WaitShadowIdle(std::chrono::seconds(30)));
  EXPECT_EQ((*router)->metrics().shadow_scored.load(), 1u);
  EXPECT_EQ((*router)->metrics().shadow_failed.load(), 0u);
  ASSERT_EQ((*router)->metrics().trace_records_written.load(), 1u);

  auto files = ListTraceFiles(directory);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 1u);
  auto reader = TraceReader::Open(files->front());
  ASSERT_TRUE(reader.ok()) << reader.status();
  v1::TraceRecord record;
  ASSERT_TRUE(reader->Next(&record));
  EXPECT_EQ(record.session_id(), "host");
  EXPECT_EQ(record.step_index(), 7u);
  EXPECT_EQ(record.features().step_index(), 7u);
  EXPECT_GT(record.features().context_tokens(), 0u);
  EXPECT_EQ(record.decision().tier_name(), "low");
  EXPECT_TRUE(record.decision().shadow_sampled());
  EXPECT_EQ(record.outcome().tier_name(), "low");
  EXPECT_EQ(record.outcome().output_tokens(), 6u);
  EXPECT_EQ(record.outcome().latency_ms(), 12.5);
  EXPECT_TRUE(record.outcome().request_json().empty());  // the trace keeps measures, not the text
  EXPECT_TRUE(record.outcome().response_json().empty());
  EXPECT_EQ(record.reference_tier(), "ref");
  EXPECT_EQ(record.low_tier(), "low");
  EXPECT_EQ(record.scored_tokens(), 6u);  // "sum: 5", taken from the response body
  EXPECT_GT(record.kl_divergence(), 0.0);
  EXPECT_FALSE(reader->Next(&record));
  std::filesystem::remove_all(directory);
}

TEST_F(ShadowServerTest, HostMakingItsOwnCallsGetsTracesOnLlamaServer) {
  HostMakesItsOwnCallsAndTracesAppear("llama_server");
}

TEST_F(ShadowServerTest, HostMakingItsOwnCallsGetsTracesOnVllm) { HostMakesItsOwnCallsAndTracesAppear("vllm"); }

TEST_F(ShadowServerTest, AReloadBetweenTheDecisionAndItsOutcomeDropsTheStep) {
  // The decision's tier indices belong to the config it was made under; after a reload the step is
  // dropped and counted, never labelled with another ladder's tier names.
  const std::string directory = testing::TempDir() + "/shadow-reload-" + std::to_string(getpid());
  auto router = Router::Create(RouterConfigJson(directory, "llama_server"));
  ASSERT_TRUE(router.ok()) << router.status();
  v1::Step step;
  step.set_session_id("host");
  v1::ChatMessage* message = step.add_messages();
  message->set_role("user");
  message->mutable_content()->set_string_value("add 2 and 3");
  ASSERT_TRUE((*router)->OnStep(step).ok());
  Choice choice;
  ASSERT_TRUE((*router)->Choose("host", &choice).ok());
  ASSERT_TRUE(choice.decision.flags & kDecisionShadowSampled);
  ASSERT_TRUE((*router)->Reload(RouterConfigJson(directory, "llama_server")).ok());
  v1::Outcome outcome;
  outcome.set_session_id("host");
  outcome.set_request_json(R"({"messages": [{"role": "user", "content": "add 2 and 3"}]})");
  outcome.set_action_text("sum: 5");
  ASSERT_TRUE((*router)->ReportOutcome(outcome).ok());
  ASSERT_TRUE((*router)->WaitShadowIdle(std::chrono::seconds(10)));
  EXPECT_EQ((*router)->metrics().shadow_sampled.load(), 1u);
  EXPECT_EQ((*router)->metrics().shadow_dropped.load(), 1u);
  EXPECT_EQ((*router)->metrics().trace_records_written.load(), 0u);
  EXPECT_FALSE(std::filesystem::exists(directory));
}

TEST(ShadowMethodConfig, OnlyTheTwoServersAreNamed) {
  const std::string tiers = R"("tiers":[{"name":"a","format":"bf16","base_url":"http://h/v1","model":"m"}])";
  ConfigErrors errors;
  auto config = ParseRouterConfig("{" + tiers + R"(,"shadow":{"rate":0.5,"trace_path":"t","method":"vllm"}})", &errors);
  ASSERT_TRUE(config);
  EXPECT_EQ(config->shadow.method, ShadowMethod::kVllm);
  config = ParseRouterConfig("{" + tiers + R"(,"shadow":{"rate":0.5,"trace_path":"t"}})", &errors);
  ASSERT_TRUE(config);
  EXPECT_EQ(config->shadow.method, ShadowMethod::kLlamaServer);
  EXPECT_FALSE(ParseRouterConfig("{" + tiers + R"(,"shadow":{"rate":0.5,"trace_path":"t","method":"sglang"}})", &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/shadow/method");
}

}  // namespace
}  // namespace quantclaw
