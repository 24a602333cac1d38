// qc_complete against real llama.cpp tiers: llama-server serving one tiny model at f16, q8_0 and q4_0
// (tests/tiers/llama_tiers.h). What the loopback fault server cannot show: a real server's streaming,
// usage with its prefix cache, logprobs in both endpoints, calls from several threads at once, and a
// tier that dies mid-run and comes back.
//
// Exit 77 (ctest: skipped) when the tiers cannot be built here and QUANTCLAW_REQUIRE_REAL_TIERS is unset;
// the test command sets it, so there a missing tier is a failure.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "llama_tiers.h"
#include "real_tiers_main.h"
#include "quantclaw/quantclaw.h"

namespace {

namespace json = boost::json;
using quantclaw_test::LlamaServer;
using quantclaw_test::TierJson;

// The three tiers, lowest first as the ladder orders them.
using Tiers = quantclaw_test::RealTiers;
Tiers* tiers = nullptr;

// Every tier on its own server; steps go where the host's hint sends them (force_tier).
std::string Config(const std::string& q4_0_url, const std::string& backend = "{}") {
  return R"({"tiers":[)" + TierJson("q4_0", "q4_0", q4_0_url) + "," +
         TierJson("q8_0", "q8_0", tiers->q8_0->base_url()) + "," + TierJson("f16", "fp16", tiers->f16->base_url()) +
         R"(],"backend":)" + backend + "}";
}

class Router {
 public:
  explicit Router(const std::string& config) {
    if (qc_router_new(config.data(), config.size(), &router_) != QC_OK) {
      ADD_FAILURE() << "qc_router_new: " << qc_last_error();
    }
  }
  ~Router() { qc_router_free(router_); }
  qc_router* get() const { return router_; }

  std::string Metrics() const {
    qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
    if (qc_metrics(router_, &out) != QC_OK) return "";
    std::string text(reinterpret_cast<const char*>(out.data), out.size);
    qc_buffer_free(&out);
    return text;
  }

 private:
  qc_router* router_ = nullptr;
};

struct Completion {
  int32_t status = -1;
  std::string error;
  json::value response;
  std::vector<json::value> chunks;  // each streamed event, parsed
};

int32_t CollectChunk(void* user, const uint8_t* data, size_t size) {
  auto* completion = static_cast<Completion*>(user);
  boost::system::error_code ec;
  completion->chunks.push_back(json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec));
  if (ec) completion->chunks.back() = json::value("not JSON");
  return 0;
}

// One qc_complete call. `body` is the OpenAI request as the host would send it ("model": "auto").
Completion Complete(const Router& router, const std::string& session, json::object body, const std::string& tier,
                    bool stream, const std::string& endpoint = "chat") {
  body["model"] = "auto";
  json::object request{{"session_id", session}, {"body", std::move(body)}, {"endpoint", endpoint}};
  if (!tier.empty()) request["hints"] = json::object{{"force_tier", tier}};
  const std::string bytes = json::serialize(request);
  qc_bytes in = {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
  qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
  Completion completion;
  completion.status = qc_complete(router.get(), &in, QC_FORMAT_JSON, stream ? &CollectChunk : nullptr,
                                  &completion, &out);
  if (completion.status == QC_OK) {
    completion.response = json::parse(std::string_view(reinterpret_cast<const char*>(out.data), out.size));
    qc_buffer_free(&out);
  } else {
    completion.error = qc_last_error();
  }
  return completion;
}

json::object Chat(const std::string& user_text, int max_tokens = 16) {
  return json::object{{"messages", json::array{json::object{{"role", "system"}, {"content", "You are an agent."}},
                                               json::object{{"role", "user"}, {"content", user_text}}}},
                      {"max_tokens", max_tokens},
                      {"temperature", 0}};
}

const json::value& At(const json::value& value, std::initializer_list<json::string_view> path) {
  static const json::value missing;
  const json::value* at = &value;
  for (json::string_view key : path) {
    const json::object* object = at->if_object();
    at = object ? object->if_contains(key) : nullptr;
    if (at == nullptr) return missing;
  }
  return *at;
}

int64_t Int(const json::value& value) { return value.is_int64() ? value.get_int64() : value.is_uint64() ? int64_t(value.get_uint64()) : -1; }

// choices[0] (a value, not an object: At() then reads inside it rather than inside a copy).
const json::value& Choice(const json::value& response) {
  static const json::value none;
  const json::value& choices = At(response, {"choices"});
  if (!choices.is_array() || choices.get_array().empty()) return none;
  return choices.get_array()[0];
}

std::string ServedBy(const Completion& completion) {
  const json::value& tier = At(completion.response, {"quantclaw", "tier"});
  return tier.is_string() ? std::string(tier.get_string()) : "";
}

TEST(RealTiers, ChatAnswersOnTheChosenTierWithUsage) {
  Router router(Config(tiers->q4_0->base_url()));
  for (const char* tier : {"q4_0", "q8_0", "f16"}) {
    Completion completion = Complete(router, std::string("chat-") + tier, Chat("Hello there, how are you?"), tier, false);
    ASSERT_EQ(completion.status, QC_OK) << completion.error;
    EXPECT_EQ(ServedBy(completion), tier);
    // llama-server names the model it serves (its --alias): the request reached that tier's server.
    EXPECT_EQ(At(completion.response, {"model"}), json::value(std::string("tiny-") + tier));
    const json::value& content = At(Choice(completion.response), {"message", "content"});
    ASSERT_TRUE(content.is_string());
    EXPECT_FALSE(content.get_string().empty());
    EXPECT_GT(Int(At(completion.response, {"usage", "prompt_tokens"})), 5);
    const int64_t completion_tokens = Int(At(completion.response, {"usage", "completion_tokens"}));
    EXPECT_GE(completion_tokens, 1);
    EXPECT_LE(completion_tokens, 16);
  }
  const std::string metrics = router.Metrics();
  EXPECT_NE(metrics.find("quantclaw_output_tokens_total{tier=\"q4_0\"}"), std::string::npos) << metrics;
}

TEST(RealTiers, StreamedChunksAddUpToTheAggregate) {
  Router router(Config(tiers->q4_0->base_url()));
  Completion completion = Complete(router, "stream", Chat("Tell me about the weather in Paris.", 32), "f16", true);
  ASSERT_EQ(completion.status, QC_OK) << completion.error;
  ASSERT_GT(completion.chunks.size(), 2u);
  std::string streamed;
  for (const json::value& chunk : completion.chunks) {
    ASSERT_TRUE(chunk.is_object()) << "a chunk the host got is not JSON";
    const json::value& content = At(Choice(chunk), {"delta", "content"});
    if (content.is_string()) streamed += content.get_string();
  }
  const json::value& message = At(Choice(completion.response), {"message", "content"});
  ASSERT_TRUE(message.is_string());
  EXPECT_EQ(streamed, std::string(message.get_string()));
  EXPECT_FALSE(streamed.empty());
  // include_usage is asked of the tier, so the aggregate carries the real counts.
  const int64_t completion_tokens = Int(At(completion.response, {"usage", "completion_tokens"}));
  EXPECT_GE(completion_tokens, 1);
  EXPECT_LE(completion_tokens, 32);
  EXPECT_GT(Int(At(completion.response, {"usage", "prompt_tokens"})), 5);
}

TEST(RealTiers, LegacyCompletionsStreamingAndNot) {
  Router router(Config(tiers->q4_0->base_url()));
  json::object body{{"prompt", "The answer to the question is"}, {"max_tokens", 12}, {"temperature", 0}};
  Completion plain = Complete(router, "legacy", body, "q8_0", false, "completions");
  ASSERT_EQ(plain.status, QC_OK) << plain.error;
  const json::value& text = At(Choice(plain.response), {"text"});
  ASSERT_TRUE(text.is_string());
  EXPECT_FALSE(text.get_string().empty());
  Completion streamed = Complete(router, "legacy-stream", body, "q8_0", true, "completions");
  ASSERT_EQ(streamed.status, QC_OK) << streamed.error;
  EXPECT_EQ(At(Choice(streamed.response), {"text"}), text) << "greedy decoding: the same text either way";
  EXPECT_GE(Int(At(streamed.response, {"usage", "completion_tokens"})), 1);
}

TEST(RealTiers, LogprobsInBothEndpoints) {
  Router router(Config(tiers->q4_0->base_url()));
  json::object chat = Chat("List three colours.", 8);
  chat["logprobs"] = true;
  chat["top_logprobs"] = 3;
  for (bool stream : {false, true}) {
    Completion completion = Complete(router, stream ? "lp-chat-s" : "lp-chat", chat, "q4_0", stream);
    ASSERT_EQ(completion.status, QC_OK) << completion.error;
    const json::value& content = At(Choice(completion.response), {"logprobs", "content"});
    ASSERT_TRUE(content.is_array()) << json::serialize(completion.response);
    EXPECT_EQ(int64_t(content.get_array().size()), Int(At(completion.response, {"usage", "completion_tokens"})));
    for (const json::value& token : content.get_array()) {
      EXPECT_TRUE(At(token, {"logprob"}).is_number());
      EXPECT_EQ(At(token, {"top_logprobs"}).as_array().size(), 3u);
    }
  }
  // llama-server answers /v1/completions logprobs in the chat shape; either shape must come through.
  json::object legacy{{"prompt", "One, two,"}, {"max_tokens", 6}, {"temperature", 0}, {"logprobs", 3}};
  for (bool stream : {false, true}) {
    Completion completion = Complete(router, stream ? "lp-legacy-s" : "lp-legacy", legacy, "q4_0", stream, "completions");
    ASSERT_EQ(completion.status, QC_OK) << completion.error;
    const json::value& logprobs = At(Choice(completion.response), {"logprobs"});
    ASSERT_TRUE(logprobs.is_object()) << json::serialize(completion.response);
    const json::value& content = At(logprobs, {"content"});
    const json::value& tokens = At(logprobs, {"tokens"});
    const size_t count = content.is_array() ? content.get_array().size() : tokens.is_array() ? tokens.get_array().size() : 0;
    EXPECT_EQ(int64_t(count), Int(At(completion.response, {"usage", "completion_tokens"})));
  }
}

TEST(RealTiers, TheSecondCallOfASessionHitsThePrefixCache) {
  Router router(Config(tiers->q4_0->base_url()));
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "The quarterly report lists revenue, costs and the outlook. ";
  Completion first = Complete(router, "cache", Chat(long_text, 4), "f16", false);
  ASSERT_EQ(first.status, QC_OK) << first.error;
  Completion second = Complete(router, "cache", Chat(long_text, 4), "f16", false);
  ASSERT_EQ(second.status, QC_OK) << second.error;
  const int64_t prompt = Int(At(second.response, {"usage", "prompt_tokens"}));
  const int64_t cached = Int(At(second.response, {"usage", "prompt_tokens_details", "cached_tokens"}));
  EXPECT_GT(cached, prompt / 2) << json::serialize(second.response);
  // The first call may hit the cache too (the system prompt, from earlier tests): the metric holds both.
  const int64_t cached_first = Int(At(first.response, {"usage", "prompt_tokens_details", "cached_tokens"}));
  EXPECT_NE(router.Metrics().find("quantclaw_cached_tokens_total{tier=\"f16\"} " + std::to_string(cached_first + cached)),
            std::string::npos)
      << router.Metrics();
}

TEST(RealTiers, SeveralThreadsAtOnce) {
  Router router(Config(tiers->q4_0->base_url()));
  constexpr int kThreads = 4;
  constexpr int kCallsEach = 3;
  std::atomic<int> ok{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  const char* kTierNames[] = {"q4_0", "q8_0", "f16"};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCallsEach; ++i) {
        const std::string tier = kTierNames[(t + i) % 3];
        Completion completion = Complete(router, "thread-" + std::to_string(t), Chat("Step " + std::to_string(i), 8),
                                         tier, i % 2 == 0);
        if (completion.status == QC_OK && ServedBy(completion) == tier) {
          ++ok;
        } else {
          errors[t] += completion.error + " (served by " + ServedBy(completion) + ", wanted " + tier + ")\n";
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kThreads * kCallsEach);
  for (const std::string& error : errors) EXPECT_EQ(error, "");
}

// A tier killed mid-run: calls fail over to the next tier up, the breaker opens and keeps further calls
// off the dead tier, and once the tier is back and the breaker's time is up, calls return to it.
TEST(RealTiers, AKilledTierFailsOverOpensItsBreakerAndRecovers) {
  LlamaServer low(tiers->server_binary, tiers->models + "/tiny-q4_0.gguf", "tiny-q4_0");
  ASSERT_TRUE(low.Start()) << low.error();
  Router router(Config(low.base_url(),
                       R"({"retries":0,"breaker_failures":1,"breaker_open_ms":400,"connect_timeout_ms":500})"));
  Completion before = Complete(router, "kill", Chat("Before the crash.", 4), "q4_0", false);
  ASSERT_EQ(before.status, QC_OK) << before.error;
  EXPECT_EQ(ServedBy(before), "q4_0");

  low.Kill();
  Completion during = Complete(router, "kill", Chat("During the outage.", 4), "q4_0", true);
  ASSERT_EQ(during.status, QC_OK) << during.error;
  EXPECT_EQ(ServedBy(during), "q8_0");
  EXPECT_EQ(At(during.response, {"quantclaw", "failover_from"}), json::value("q4_0"));
  std::string metrics = router.Metrics();
  EXPECT_NE(metrics.find("quantclaw_breaker_open{tier=\"q4_0\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_call_failovers_total{tier=\"q4_0\"} 1"), std::string::npos) << metrics;

  // While open, the dead tier is not even tried.
  Completion while_open = Complete(router, "kill", Chat("Still down.", 4), "q4_0", false);
  ASSERT_EQ(while_open.status, QC_OK) << while_open.error;
  EXPECT_EQ(ServedBy(while_open), "q8_0");
  metrics = router.Metrics();
  EXPECT_NE(metrics.find("quantclaw_breaker_rejections_total{tier=\"q4_0\"} 1"), std::string::npos) << metrics;

  ASSERT_TRUE(low.Start(low.port())) << low.error();
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  Completion after = Complete(router, "kill", Chat("Back again.", 4), "q4_0", false);
  ASSERT_EQ(after.status, QC_OK) << after.error;
  EXPECT_EQ(ServedBy(after), "q4_0");
  EXPECT_NE(router.Metrics().find("quantclaw_breaker_open{tier=\"q4_0\"} 0"), std::string::npos);
}

}  // namespace

int main(int argc, char** argv) { return quantclaw_test::RunWithRealTiers(argc, argv, QC_TIERS_SCRIPT, &tiers); }
