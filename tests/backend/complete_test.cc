// qc_complete against a loopback OpenAI-compatible server that speaks real HTTP and SSE
// (openai_server.py): routing, the rewrite on the wire, streaming, aggregation, and each fault a real
// server will not produce on demand. Every fault must end in a clear status and message.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "child_server.h"
#include "quantclaw/quantclaw.h"

namespace {

namespace json = boost::json;

// The server as a child process (child_server.h); `arguments` go to openai_server.py (--tls CERT KEY).
class Server : public quantclaw_test::ChildServer {
 public:
  explicit Server(std::vector<std::string> arguments = {})
      : ChildServer("test server", QC_SERVER_SCRIPT, std::move(arguments)) {}
};

Server* g_server = nullptr;

class CompleteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { g_server = new Server(); }
  static void TearDownTestSuite() {
    delete g_server;
    g_server = nullptr;
  }

  void SetUp() override {
    std::string base = "http://127.0.0.1:" + std::to_string(g_server->port()) + "/v1";
    std::string tiers;
    for (const char* model :
         {"echo", "tool", "http500", "reset", "truncated", "invalid-json", "stall", "huge", "logprobs", "thinker",
          "thinker-old", "no-done"}) {
      if (!tiers.empty()) tiers += ",";
      tiers += std::string(R"({"name":")") + model + R"(","format":"bf16","model":")" + model + R"(","base_url":")" +
               base + R"(","api_key_env":"QC_TEST_TIER_KEY"})";
    }
    // A tier nobody listens on: port 1 on loopback refuses at once.
    tiers += R"(,{"name":"down","format":"int4","model":"m","base_url":"http://127.0.0.1:1/v1"})";
    config_ = R"({"tiers":[)" + tiers + R"(],"reference_tier":"echo",
        "backend":{"connect_timeout_ms":1000,"first_byte_timeout_ms":400,"total_timeout_ms":10000,
                   "max_response_bytes":1048576,"retries":0,"failover":false}})";
    ASSERT_EQ(qc_router_new(config_.data(), config_.size(), &router_), QC_OK) << qc_last_error();
    setenv("QC_TEST_TIER_KEY", "sekret-key", 1);
  }
  void TearDown() override { qc_router_free(router_); }

  // One call; returns its status, fills the response and the streamed events.
  int32_t Complete(const std::string& tier, const std::string& body, bool stream, std::string* response,
                   std::vector<std::string>* events = nullptr, const char* endpoint = "chat", int cancel_after = -1) {
    std::string request = R"({"session_id":"s-)" + tier + R"(","endpoint":")" + endpoint +
                          R"(","hints":{"force_tier":")" + tier + R"("},"body":)" + body + "}";
    qc_bytes bytes = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};
    qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
    Collector collector{events, cancel_after};
    int32_t status = qc_complete(router_, &bytes, QC_FORMAT_JSON, stream ? &Collector::OnChunk : nullptr,
                                 &collector, &out);
    if (status == QC_OK) {
      response->assign(reinterpret_cast<const char*>(out.data), out.size);
      qc_buffer_free(&out);
    }
    return status;
  }

  struct Collector {
    std::vector<std::string>* events;
    int cancel_after;
    static int32_t OnChunk(void* user, const uint8_t* chunk, size_t size) {
      auto* self = static_cast<Collector*>(user);
      if (self->events != nullptr) self->events->emplace_back(reinterpret_cast<const char*>(chunk), size);
      if (self->cancel_after >= 0 && self->events != nullptr &&
          static_cast<int>(self->events->size()) >= self->cancel_after) {
        return 1;
      }
      return 0;
    }
  };

  // The server's record of what reached it.
  json::array Received() { return json::parse(g_server->Get("/requests")).as_array(); }

  std::string Metrics() {
    qc_buffer metrics = {sizeof(qc_buffer), 0, nullptr, 0};
    EXPECT_EQ(qc_metrics(router_, &metrics), QC_OK);
    std::string text(reinterpret_cast<const char*>(metrics.data), metrics.size);
    qc_buffer_free(&metrics);
    return text;
  }

  // Replaces the router with one whose config differs in its "backend" object and its tiers.
  void UseConfig(const std::string& tiers, const std::string& backend) {
    qc_router_free(router_);
    config_ = R"({"tiers":[)" + tiers + R"(],"backend":)" + backend + "}";
    ASSERT_EQ(qc_router_new(config_.data(), config_.size(), &router_), QC_OK) << qc_last_error();
  }

  std::string Tier(const std::string& name, const std::string& model, const std::string& format, bool up = true) {
    std::string base = up ? "http://127.0.0.1:" + std::to_string(g_server->port()) + "/v1" : "http://127.0.0.1:1/v1";
    return R"({"name":")" + name + R"(","format":")" + format + R"(","model":")" + model + R"(","base_url":")" + base +
           R"("})";
  }

  size_t RequestsFor(const std::string& model) {
    size_t count = 0;
    for (const json::value& request : Received()) count += request.at("model").as_string() == model;
    return count;
  }

  const char* kHello = R"({"model":"anything","messages":[{"role":"user","content":"hello"}],"max_tokens":16})";
  std::string config_;
  qc_router* router_ = nullptr;
};

TEST_F(CompleteTest, NonStreamingAnswerIsReturnedWithTheDecision) {
  std::string response;
  ASSERT_EQ(Complete("echo", kHello, false, &response), QC_OK) << qc_last_error();
  json::object answer = json::parse(response).as_object();
  EXPECT_EQ(answer.at("choices").at(0).at("message").at("content").as_string(), "echo: hello");
  EXPECT_EQ(answer.at("quantclaw").at("tier").as_string(), "echo");
  EXPECT_EQ(answer.at("usage").at("prompt_tokens_details").at("cached_tokens").as_int64(), 5);
}

TEST_F(CompleteTest, TheWireCarriesTheTiersModelAndKey) {
  size_t before = Received().size();
  std::string response;
  ASSERT_EQ(Complete("echo", kHello, true, &response), QC_OK) << qc_last_error();
  json::array received = Received();
  ASSERT_EQ(received.size(), before + 1);
  const json::object& request = received.back().as_object();
  EXPECT_EQ(request.at("model").as_string(), "echo");  // not "anything"
  EXPECT_EQ(request.at("path").as_string(), "/v1/chat/completions");
  EXPECT_EQ(request.at("authorization").as_string(), "Bearer sekret-key");
  EXPECT_TRUE(request.at("stream").as_bool());
  EXPECT_TRUE(request.at("stream_options").at("include_usage").as_bool());
}

TEST_F(CompleteTest, StreamingDeliversEachEventAndAggregates) {
  std::string response;
  std::vector<std::string> events;
  ASSERT_EQ(Complete("echo", kHello, true, &response, &events), QC_OK) << qc_last_error();
  // "echo: hello" in 4-byte pieces (3), the finish chunk and the usage chunk; [DONE] is not passed on.
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(json::parse(events[0]).at("choices").at(0).at("delta").at("content").as_string(), "echo");
  json::object answer = json::parse(response).as_object();
  EXPECT_EQ(answer.at("object").as_string(), "chat.completion");
  EXPECT_EQ(answer.at("choices").at(0).at("message").at("content").as_string(), "echo: hello");
  EXPECT_EQ(answer.at("choices").at(0).at("finish_reason").as_string(), "stop");
  EXPECT_EQ(answer.at("usage").at("completion_tokens").as_int64(), 3);
}

TEST_F(CompleteTest, StreamedToolCallIsAssembled) {
  std::string response;
  ASSERT_EQ(Complete("tool", kHello, true, &response), QC_OK) << qc_last_error();
  json::object message = json::parse(response).at("choices").at(0).at("message").as_object();
  const json::object& call = message.at("tool_calls").at(0).as_object();
  EXPECT_EQ(call.at("id").as_string(), "call_1");
  EXPECT_EQ(call.at("function").at("name").as_string(), "get_weather");
  EXPECT_EQ(call.at("function").at("arguments").as_string(), R"({"city": "Paris"})");
  EXPECT_TRUE(message.at("content").is_null());
}

TEST_F(CompleteTest, LegacyCompletionsEndpoint) {
  std::string response;
  const char* body = R"({"model":"x","prompt":"hello","max_tokens":8})";
  ASSERT_EQ(Complete("echo", body, false, &response, nullptr, "completions"), QC_OK) << qc_last_error();
  EXPECT_EQ(json::parse(response).at("choices").at(0).at("text").as_string(), "echo: hello");
  ASSERT_EQ(Complete("echo", body, true, &response, nullptr, "completions"), QC_OK) << qc_last_error();
  EXPECT_EQ(json::parse(response).at("choices").at(0).at("text").as_string(), "echo: hello");
  EXPECT_EQ(json::parse(response).at("object").as_string(), "text_completion");
}

// Both shapes servers use: chat ({"content": [...]}, items appended) and legacy completions (parallel
// arrays, concatenated).
TEST_F(CompleteTest, StreamedLogprobsInBothShapes) {
  std::string response;
  ASSERT_EQ(Complete("logprobs", kHello, true, &response), QC_OK) << qc_last_error();
  json::value chat = json::parse(response);
  const json::array& content = chat.at("choices").at(0).at("logprobs").at("content").as_array();
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[1].at("token").as_string(), "!");
  EXPECT_DOUBLE_EQ(content[1].at("logprob").as_double(), -1.5);
  ASSERT_EQ(Complete("logprobs", R"({"model":"x","prompt":"hello"})", true, &response, nullptr, "completions"), QC_OK)
      << qc_last_error();
  json::value completion = json::parse(response);
  const json::object& legacy = completion.at("choices").at(0).at("logprobs").as_object();
  EXPECT_EQ(legacy.at("tokens").as_array(), (json::array{"Hi", "!"}));
  EXPECT_EQ(legacy.at("token_logprobs").as_array(), (json::array{-0.1, -1.5}));
  EXPECT_EQ(json::parse(response).at("choices").at(0).at("text").as_string(), "Hi!");
}

// A reasoning model's thinking reaches the host with the answer, under the name its server used: vLLM's
// newer "reasoning" is not dropped, and the older "reasoning_content" is not renamed.
TEST_F(CompleteTest, AReasoningModelsThinkingReachesTheHostUnderItsOwnName) {
  const std::pair<std::string, std::string> servers[] = {{"thinker", "reasoning"}, {"thinker-old", "reasoning_content"}};
  for (const auto& [tier, field] : servers) {
    const std::string other = field == "reasoning" ? "reasoning_content" : "reasoning";
    std::string response;
    std::vector<std::string> events;
    ASSERT_EQ(Complete(tier, kHello, true, &response, &events), QC_OK) << qc_last_error();
    EXPECT_EQ(events.size(), 4u) << tier;
    json::object message = json::parse(response).at("choices").at(0).at("message").as_object();
    EXPECT_EQ(message.at(field).as_string(), "Let me think.") << tier << ": " << response;
    EXPECT_FALSE(message.contains(other)) << tier << ": " << response;
    EXPECT_EQ(message.at("content").as_string(), "The answer.") << tier;
    // Not streamed to the host: the same message.
    ASSERT_EQ(Complete(tier, kHello, false, &response), QC_OK) << qc_last_error();
    message = json::parse(response).at("choices").at(0).at("message").as_object();
    EXPECT_EQ(message.at(field).as_string(), "Let me think.") << tier << ": " << response;
    EXPECT_EQ(message.at("content").as_string(), "The answer.") << tier;
  }
}

TEST_F(CompleteTest, HttpErrorIsUpstream) {
  std::string response;
  EXPECT_EQ(Complete("http500", kHello, false, &response), QC_ERR_UPSTREAM);
  EXPECT_NE(std::string(qc_last_error()).find("tier http500 answered HTTP 500"), std::string::npos) << qc_last_error();
}

TEST_F(CompleteTest, ConnectionResetMidStream) {
  std::string response;
  std::vector<std::string> events;
  EXPECT_EQ(Complete("reset", kHello, true, &response, &events), QC_ERR_UNAVAILABLE) << qc_last_error();
  EXPECT_EQ(events.size(), 2u);  // what arrived before the reset reached the host
  EXPECT_NE(std::string(qc_last_error()).find("tier reset"), std::string::npos) << qc_last_error();
}

TEST_F(CompleteTest, TruncatedStreamIsUpstream) {
  std::string response;
  EXPECT_EQ(Complete("truncated", kHello, true, &response), QC_ERR_UPSTREAM);
  EXPECT_NE(std::string(qc_last_error()).find("the stream ended before [DONE] and before a finish_reason, after 2 events"),
            std::string::npos)
      << qc_last_error();
}

// A server that never sends [DONE] (ik_llama.cpp, llamafile) but ends its body after the answer's
// finish_reason has answered in full: a success, not a failure to retry and fail over.
TEST_F(CompleteTest, AStreamThatEndsAfterItsFinishReasonWithoutDoneIsWhole) {
  std::string response;
  std::vector<std::string> events;
  ASSERT_EQ(Complete("no-done", kHello, true, &response, &events), QC_OK) << qc_last_error();
  EXPECT_EQ(events.size(), 4u);
  json::object answer = json::parse(response).as_object();
  EXPECT_EQ(answer.at("choices").at(0).at("message").at("content").as_string(), "whole answer");
  EXPECT_EQ(answer.at("choices").at(0).at("finish_reason").as_string(), "stop");
  EXPECT_EQ(answer.at("usage").at("completion_tokens").as_int64(), 3);
  EXPECT_EQ(RequestsFor("no-done"), 1u);  // not retried
}

TEST_F(CompleteTest, InvalidJsonIsUpstream) {
  std::string response;
  EXPECT_EQ(Complete("invalid-json", kHello, false, &response), QC_ERR_UPSTREAM);
  EXPECT_NE(std::string(qc_last_error()).find("not a JSON object: not json{"), std::string::npos) << qc_last_error();
  EXPECT_EQ(Complete("invalid-json", kHello, true, &response), QC_ERR_UPSTREAM);
  EXPECT_NE(std::string(qc_last_error()).find("stream event 0 is not a JSON object: {broken"), std::string::npos)
      << qc_last_error();
}

TEST_F(CompleteTest, StallHitsTheFirstByteTimeout) {
  std::string response;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Complete("stall", kHello, false, &response), QC_ERR_TIMEOUT);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 3.0);  // the server would have stalled 5 s
  EXPECT_NE(std::string(qc_last_error()).find("no response byte within 400 ms"), std::string::npos) << qc_last_error();
  EXPECT_NE(Metrics().find("quantclaw_call_timeouts_total{tier=\"stall\"} 1\n"), std::string::npos) << Metrics();
}

TEST_F(CompleteTest, HugeResponseIsRefused) {
  std::string response;
  EXPECT_EQ(Complete("huge", kHello, false, &response), QC_ERR_TOO_LARGE);
  EXPECT_NE(std::string(qc_last_error()).find("response over 1048576 bytes"), std::string::npos) << qc_last_error();
}

TEST_F(CompleteTest, TheHostCancels) {
  std::string response;
  std::vector<std::string> events;
  EXPECT_EQ(Complete("echo", kHello, true, &response, &events, "chat", 2), QC_ERR_CANCELLED);
  EXPECT_EQ(events.size(), 2u);
  EXPECT_NE(Metrics().find("quantclaw_call_cancellations_total 1\n"), std::string::npos) << Metrics();
}

// Keep-alive: plain calls to one server share a pooled connection (the test server keeps plain
// answers' connections open; its streams close theirs).
// quantclaw.h, qc_chunk_fn: no lock is held while the tier answers, so the callback may call the
// [any-thread] functions and the [session-serial] ones for sessions other than the call's own, qc_complete
// included. Everything the contract allows, done from inside the first event of a streamed call.
TEST_F(CompleteTest, TheChunkCallbackMayCallBackIntoTheLibrary) {
  struct Reentrant {
    qc_router* router;
    const std::string* config;
    int events = 0;
    int32_t metrics_status = -1, reload_status = -1, step_status = -1, choose_status = -1, complete_status = -1;
    std::string metrics, tier_name, nested_response;

    static int32_t OnChunk(void* user, const uint8_t*, size_t) {
      auto* self = static_cast<Reentrant*>(user);
      if (++self->events != 1) return 0;
      qc_buffer text = {sizeof(qc_buffer), 0, nullptr, 0};
      self->metrics_status = qc_metrics(self->router, &text);
      if (self->metrics_status == QC_OK) self->metrics.assign(reinterpret_cast<const char*>(text.data), text.size);
      qc_buffer_free(&text);
      self->reload_status = qc_router_reload(self->router, self->config->data(), self->config->size());

      const std::string step = R"({"session_id":"other","messages":[{"role":"user","content":"hi"}],
                                   "hints":{"force_tier":"logprobs"}})";
      qc_bytes step_bytes = {reinterpret_cast<const uint8_t*>(step.data()), step.size()};
      self->step_status = qc_on_step(self->router, &step_bytes, QC_FORMAT_JSON);
      const std::string request = R"({"session_id":"other"})";
      qc_bytes request_bytes = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};
      qc_decision decision = {sizeof(qc_decision)};
      self->choose_status = qc_choose_precision(self->router, &request_bytes, QC_FORMAT_JSON, &decision);
      self->tier_name = decision.tier_name;

      const std::string nested = R"({"session_id":"third","endpoint":"chat","hints":{"force_tier":"echo"},
          "body":{"model":"m","messages":[{"role":"user","content":"inner"}]}})";
      qc_bytes nested_bytes = {reinterpret_cast<const uint8_t*>(nested.data()), nested.size()};
      qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
      self->complete_status = qc_complete(self->router, &nested_bytes, QC_FORMAT_JSON, nullptr, nullptr, &out);
      if (self->complete_status == QC_OK) {
        self->nested_response.assign(reinterpret_cast<const char*>(out.data), out.size);
      }
      qc_buffer_free(&out);
      return 0;
    }
  };
  Reentrant reentrant{router_, &config_};
  const std::string request =
      std::string(R"({"session_id":"s-echo","endpoint":"chat","hints":{"force_tier":"echo"},"body":)") + kHello + "}";
  qc_bytes bytes = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};
  qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
  ASSERT_EQ(qc_complete(router_, &bytes, QC_FORMAT_JSON, &Reentrant::OnChunk, &reentrant, &out), QC_OK)
      << qc_last_error();
  std::string response(reinterpret_cast<const char*>(out.data), out.size);
  qc_buffer_free(&out);

  EXPECT_EQ(reentrant.events, 5);
  EXPECT_EQ(json::parse(response).at("choices").at(0).at("message").at("content").as_string(), "echo: hello");
  EXPECT_EQ(reentrant.metrics_status, QC_OK);
  // The outer call's step and decision were made before the tier answered.
  EXPECT_NE(reentrant.metrics.find("quantclaw_decisions_total 1\n"), std::string::npos) << reentrant.metrics;
  EXPECT_EQ(reentrant.reload_status, QC_OK);
  EXPECT_EQ(reentrant.step_status, QC_OK);
  EXPECT_EQ(reentrant.choose_status, QC_OK);
  EXPECT_EQ(reentrant.tier_name, "logprobs");
  ASSERT_EQ(reentrant.complete_status, QC_OK);
  EXPECT_EQ(json::parse(reentrant.nested_response).at("choices").at(0).at("message").at("content").as_string(),
            "echo: inner");
  EXPECT_NE(Metrics().find("quantclaw_decisions_total 3\n"), std::string::npos) << Metrics();
}

// Freeing the router a call runs on, from that call's own callback, would wait for the call forever:
// it is refused, and the call and the router go on.
TEST_F(CompleteTest, TheChunkCallbackMayNotFreeItsOwnRouter) {
  struct Freeing {
    qc_router* router;
    int32_t free_status = -1;
    std::string error;
    static int32_t OnChunk(void* user, const uint8_t*, size_t) {
      auto* self = static_cast<Freeing*>(user);
      if (self->free_status == -1) {
        self->free_status = qc_router_free(self->router);
        self->error = qc_last_error();
      }
      return 0;
    }
  };
  Freeing freeing{router_};
  const std::string request =
      std::string(R"({"session_id":"s-echo","endpoint":"chat","hints":{"force_tier":"echo"},"body":)") + kHello + "}";
  qc_bytes bytes = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};
  qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
  ASSERT_EQ(qc_complete(router_, &bytes, QC_FORMAT_JSON, &Freeing::OnChunk, &freeing, &out), QC_OK) << qc_last_error();
  qc_buffer_free(&out);
  EXPECT_EQ(freeing.free_status, QC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(freeing.error.find("in flight on this thread"), std::string::npos) << freeing.error;
  EXPECT_NE(Metrics().find("quantclaw_decisions_total 1\n"), std::string::npos);
}

// qc_router_free on another thread while a streamed call is in flight waits for the call, which
// finishes whole; the handle is refused from then on.
TEST_F(CompleteTest, FreeFromAnotherThreadWaitsForTheCallInFlight) {
  struct Slow {
    std::atomic<int> events{0};
    static int32_t OnChunk(void* user, const uint8_t*, size_t) {
      static_cast<Slow*>(user)->events.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
      return 0;
    }
  };
  Slow slow;
  const std::string request =
      std::string(R"({"session_id":"s-echo","endpoint":"chat","hints":{"force_tier":"echo"},"body":)") + kHello + "}";
  qc_bytes bytes = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};
  qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
  int32_t call_status = -1;
  std::thread call([&] { call_status = qc_complete(router_, &bytes, QC_FORMAT_JSON, &Slow::OnChunk, &slow, &out); });
  while (slow.events.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(qc_router_free(router_), QC_OK) << qc_last_error();
  EXPECT_EQ(slow.events.load(), 5);  // free returned only after the call had delivered every event
  call.join();
  ASSERT_EQ(call_status, QC_OK);
  EXPECT_EQ(json::parse(std::string(reinterpret_cast<const char*>(out.data), out.size))
                .at("choices").at(0).at("message").at("content").as_string(),
            "echo: hello");
  qc_buffer_free(&out);
  qc_buffer metrics = {sizeof(qc_buffer), 0, nullptr, 0};
  EXPECT_EQ(qc_metrics(router_, &metrics), QC_ERR_BAD_HANDLE);
  router_ = nullptr;  // freed here; TearDown's free of NULL is a harmless refusal
}

TEST_F(CompleteTest, PlainCallsReuseTheConnection) {
  std::string response;
  for (int i = 0; i < 4; ++i) ASSERT_EQ(Complete("echo", kHello, false, &response), QC_OK) << qc_last_error();
  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find("quantclaw_http_requests_total{tier=\"echo\"} 4\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_http_connections_opened_total{tier=\"echo\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_http2_requests_total{tier=\"echo\"} 0\n"), std::string::npos) << metrics;
}

TEST_F(CompleteTest, TierDownIsUnavailable) {
  std::string response;
  EXPECT_EQ(Complete("down", kHello, false, &response), QC_ERR_UNAVAILABLE);
  EXPECT_NE(std::string(qc_last_error()).find("tier down"), std::string::npos) << qc_last_error();
}

TEST_F(CompleteTest, OnlyNewMessagesMakeTheNextStep) {
  std::string response;
  ASSERT_EQ(Complete("echo", kHello, false, &response), QC_OK);
  EXPECT_EQ(json::parse(response).at("quantclaw").at("step_index").as_int64(), 0);
  const char* longer = R"({"model":"x","messages":[{"role":"user","content":"hello"},
      {"role":"assistant","content":"echo: hello"},{"role":"user","content":"again"}]})";
  ASSERT_EQ(Complete("echo", longer, false, &response), QC_OK);
  EXPECT_EQ(json::parse(response).at("quantclaw").at("step_index").as_int64(), 1);
  EXPECT_EQ(json::parse(response).at("choices").at(0).at("message").at("content").as_string(), "echo: again");
  // Two steps, two user turns in all: the first message was not counted twice.
  qc_buffer metrics = {sizeof(qc_buffer), 0, nullptr, 0};
  ASSERT_EQ(qc_metrics(router_, &metrics), QC_OK);
  std::string text(reinterpret_cast<const char*>(metrics.data), metrics.size);
  qc_buffer_free(&metrics);
  EXPECT_NE(text.find("quantclaw_steps_total 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("quantclaw_output_tokens_total{tier=\"echo\"} 6\n"), std::string::npos) << text;
}

TEST_F(CompleteTest, ServerFaultsAreRetriedWithBackoff) {
  UseConfig(Tier("flaky", "http500", "bf16"), R"({"retries":2,"backoff_initial_ms":20,"failover":false})");
  size_t before = RequestsFor("http500");
  std::string response;
  EXPECT_EQ(Complete("flaky", kHello, false, &response), QC_ERR_UPSTREAM);
  EXPECT_EQ(RequestsFor("http500") - before, 3u);  // the call and two retries
  EXPECT_NE(Metrics().find("quantclaw_call_retries_total{tier=\"flaky\"} 2\n"), std::string::npos);
}

TEST_F(CompleteTest, NoRetryOnceTheHostHasSeenPartOfTheStream) {
  UseConfig(Tier("cut", "truncated", "bf16"), R"({"retries":3,"backoff_initial_ms":1})");
  size_t before = RequestsFor("truncated");
  std::string response;
  std::vector<std::string> events;
  EXPECT_EQ(Complete("cut", kHello, true, &response, &events), QC_ERR_UPSTREAM);
  EXPECT_EQ(events.size(), 2u);
  EXPECT_EQ(RequestsFor("truncated") - before, 1u);
}

// OpenAI's [DONE] ends the stream: what a server sends after it never reaches the host, and the call
// does not wait for the server to close the connection (it holds it open for 5 s here).
TEST_F(CompleteTest, NothingAfterDoneReachesTheHostAndTheCallEndsAtOnce) {
  UseConfig(Tier("after", "after-done", "bf16") + "," + Tier("hold", "done-hold", "bf16"),
            R"({"retries":0,"failover":false,"total_timeout_ms":10000})");
  for (const char* tier : {"after", "hold"}) {
    std::string response;
    std::vector<std::string> events;
    const auto start = std::chrono::steady_clock::now();
    ASSERT_EQ(Complete(tier, kHello, true, &response, &events), QC_OK) << tier << ": " << qc_last_error();
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_LT(took, std::chrono::milliseconds(1500)) << tier;
    ASSERT_EQ(events.size(), 2u) << tier;
    for (const std::string& event : events) EXPECT_EQ(event.find("after the end"), std::string::npos) << event;
    json::value answer = json::parse(response);
    EXPECT_EQ(answer.at("choices").at(0).at("message").at("content").as_string(), "partial") << tier;
  }
}

TEST_F(CompleteTest, CarriageReturnLineEnds) {
  UseConfig(Tier("cr", "echo-cr", "bf16"), R"({"retries":0,"failover":false})");
  std::string response;
  std::vector<std::string> events;
  ASSERT_EQ(Complete("cr", kHello, true, &response, &events), QC_OK) << qc_last_error();
  EXPECT_EQ(events.size(), 5u);  // "echo", ": he", "llo", the finish, the usage
  json::value answer = json::parse(response);
  EXPECT_EQ(answer.at("choices").at(0).at("message").at("content").as_string(), "echo: hello");
  EXPECT_EQ(answer.at("usage").at("prompt_tokens").as_int64(), 11);
}

// A server reporting an error mid-stream (vLLM: data: {"error": {...}} and then [DONE]) fails the call;
// the error event is not content, so it does not reach the host; what came before it did.
TEST_F(CompleteTest, AServersErrorEventFailsTheCall) {
  UseConfig(Tier("err", "error-mid", "bf16"), R"({"retries":2,"backoff_initial_ms":1,"failover":false})");
  size_t before = RequestsFor("error-mid");
  std::string response;
  std::vector<std::string> events;
  EXPECT_EQ(Complete("err", kHello, true, &response, &events), QC_ERR_UPSTREAM);
  const std::string error = qc_last_error();
  EXPECT_NE(error.find("tier err"), std::string::npos) << error;
  EXPECT_NE(error.find("the sampler failed (BadRequestError), code 400"), std::string::npos) << error;
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].find("sampler"), std::string::npos) << events[0];
  // A 400 (and the host has seen part of the stream anyway): no retry.
  EXPECT_EQ(RequestsFor("error-mid") - before, 1u);
  EXPECT_NE(Metrics().find("quantclaw_call_failures_total{tier=\"err\"} 1\n"), std::string::npos) << Metrics();
}

TEST_F(CompleteTest, AServersErrorEventBeforeAnyContentIsRetried) {
  UseConfig(Tier("err", "error-first", "bf16"), R"({"retries":2,"backoff_initial_ms":1,"failover":false})");
  size_t before = RequestsFor("error-first");
  std::string response;
  std::vector<std::string> events;
  EXPECT_EQ(Complete("err", kHello, true, &response, &events), QC_ERR_UPSTREAM);
  EXPECT_NE(std::string(qc_last_error()).find("the engine died"), std::string::npos) << qc_last_error();
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(RequestsFor("error-first") - before, 3u);  // the call and two retries
  std::string metrics = Metrics();
  EXPECT_NE(metrics.find("quantclaw_call_retries_total{tier=\"err\"} 2\n"), std::string::npos) << metrics;
}

TEST_F(CompleteTest, AServersErrorEventBeforeAnyContentFailsOverUpTheLadder) {
  UseConfig(Tier("int4", "error-first", "int4") + "," + Tier("bf16", "echo", "bf16"),
            R"({"retries":0,"backoff_initial_ms":1})");
  std::string response;
  std::vector<std::string> events;
  ASSERT_EQ(Complete("int4", kHello, true, &response, &events), QC_OK) << qc_last_error();
  json::value answer = json::parse(response);
  EXPECT_EQ(answer.at("quantclaw").at("tier").as_string(), "bf16");
  EXPECT_EQ(answer.at("quantclaw").at("failover_from").as_string(), "int4");
  EXPECT_EQ(answer.at("choices").at(0).at("message").at("content").as_string(), "echo: hello");
  for (const std::string& event : events) EXPECT_EQ(event.find("engine died"), std::string::npos) << event;
  std::string metrics = Metrics();
  EXPECT_NE(metrics.find("quantclaw_call_failovers_total{tier=\"int4\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_call_failures_total{tier=\"int4\"} 1\n"), std::string::npos) << metrics;
}

TEST_F(CompleteTest, DownTierFailsOverUpTheLadder) {
  UseConfig(Tier("int4", "m", "int4", /*up=*/false) + "," + Tier("bf16", "echo", "bf16"),
            R"({"retries":1,"backoff_initial_ms":1,"connect_timeout_ms":500})");
  std::string response;
  ASSERT_EQ(Complete("int4", kHello, false, &response), QC_OK) << qc_last_error();
  json::value answer = json::parse(response);
  EXPECT_EQ(answer.at("quantclaw").at("tier").as_string(), "bf16");
  EXPECT_EQ(answer.at("quantclaw").at("failover_from").as_string(), "int4");
  EXPECT_EQ(answer.at("choices").at(0).at("message").at("content").as_string(), "echo: hello");
  EXPECT_NE(Metrics().find("quantclaw_call_failovers_total{tier=\"int4\"} 1\n"), std::string::npos);
}

TEST_F(CompleteTest, BreakerOpensAfterRepeatedFailuresAndRecovers) {
  UseConfig(Tier("int4", "m", "int4", /*up=*/false) + "," + Tier("bf16", "echo", "bf16"),
            R"({"retries":0,"breaker_failures":2,"breaker_open_ms":300,"failover":false})");
  std::string response;
  EXPECT_EQ(Complete("int4", kHello, false, &response), QC_ERR_UNAVAILABLE);
  EXPECT_EQ(Complete("int4", kHello, false, &response), QC_ERR_UNAVAILABLE);
  // Open now: the next call is refused without trying the tier.
  EXPECT_EQ(Complete("int4", kHello, false, &response), QC_ERR_UNAVAILABLE);
  EXPECT_NE(std::string(qc_last_error()).find("circuit breaker open after 2 failed calls"), std::string::npos)
      << qc_last_error();
  std::string metrics = Metrics();
  EXPECT_NE(metrics.find("quantclaw_breaker_open{tier=\"int4\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_breaker_rejections_total{tier=\"int4\"} 1\n"), std::string::npos);
  // Once the open time is up, one call may try again (and fails here, the tier is still down).
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  EXPECT_NE(Metrics().find("quantclaw_breaker_open{tier=\"int4\"} 0\n"), std::string::npos);
  EXPECT_EQ(Complete("int4", kHello, false, &response), QC_ERR_UNAVAILABLE);
  EXPECT_EQ(std::string(qc_last_error()).find("circuit breaker"), std::string::npos) << qc_last_error();
}

// The host stopping a stream says nothing about the tier: cancellations neither count as the tier's
// failures nor open its breaker (the soak saw a healthy tier refused after a few cancels in a row).
TEST_F(CompleteTest, CancellationsDoNotOpenTheBreaker) {
  UseConfig(Tier("int4", "m", "int4") + "," + Tier("bf16", "echo", "bf16"),
            R"({"retries":0,"breaker_failures":2,"breaker_open_ms":60000,"failover":true})");
  std::string response;
  for (int i = 0; i < 4; ++i) {
    std::vector<std::string> events;
    ASSERT_EQ(Complete("bf16", kHello, true, &response, &events, "chat", 1), QC_ERR_CANCELLED) << qc_last_error();
  }
  EXPECT_EQ(Complete("bf16", kHello, false, &response), QC_OK) << qc_last_error();
  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find("quantclaw_breaker_open{tier=\"bf16\"} 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_call_failures_total{tier=\"bf16\"} 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_call_cancellations_total 4\n"), std::string::npos) << metrics;
}

// A reload that reorders the tiers: the open breaker stays with the tier that failed, by name.
TEST_F(CompleteTest, AnOpenBreakerFollowsItsTierThroughAReorderingReload) {
  const std::string backend = R"({"retries":0,"breaker_failures":1,"breaker_open_ms":60000,"failover":false})";
  UseConfig(Tier("int4", "m", "int4", /*up=*/false) + "," + Tier("bf16", "echo", "bf16"), backend);
  std::string response;
  EXPECT_EQ(Complete("int4", kHello, false, &response), QC_ERR_UNAVAILABLE);
  EXPECT_NE(Metrics().find("quantclaw_breaker_open{tier=\"int4\"} 1\n"), std::string::npos) << Metrics();
  const std::string reordered =
      R"({"tiers":[)" + Tier("bf16", "echo", "bf16") + "," + Tier("int4", "m", "int4", false) + R"(],"backend":)" +
      backend + "}";
  ASSERT_EQ(qc_router_reload(router_, reordered.data(), reordered.size()), QC_OK) << qc_last_error();
  std::string metrics = Metrics();
  EXPECT_NE(metrics.find("quantclaw_breaker_open{tier=\"int4\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_breaker_open{tier=\"bf16\"} 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_call_failures_total{tier=\"int4\"} 1\n"), std::string::npos) << metrics;
  // bf16, now where int4 was, answers; int4 is refused by its breaker without a connection attempt.
  EXPECT_EQ(Complete("bf16", kHello, false, &response), QC_OK) << qc_last_error();
  EXPECT_EQ(Complete("int4", kHello, false, &response), QC_ERR_UNAVAILABLE);
  EXPECT_NE(std::string(qc_last_error()).find("circuit breaker open"), std::string::npos) << qc_last_error();
}

// The weather tool with a schema; the low tier's call breaks it, the high tier's does not.
const char* kWeatherRequest = R"({"model":"x","messages":[{"role":"user","content":"weather in Paris?"}],
    "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
      "properties":{"city":{"type":"string"}},"required":["city"]}}}]})";

TEST_F(CompleteTest, InvalidToolCallIsReissuedOnAHigherTierBeforeTheHostSeesIt) {
  UseConfig(Tier("int4", "badtool", "int4") + "," + Tier("bf16", "tool", "bf16"), R"({"retries":0})");
  std::string response;
  std::vector<std::string> events;
  ASSERT_EQ(Complete("int4", kWeatherRequest, true, &response, &events), QC_OK) << qc_last_error();
  json::value answer = json::parse(response);
  EXPECT_EQ(answer.at("quantclaw").at("tier").as_string(), "bf16");
  EXPECT_EQ(answer.at("quantclaw").at("escalated_from").as_string(), "int4");
  EXPECT_EQ(answer.at("choices").at(0).at("message").at("tool_calls").at(0).at("function").at("arguments").as_string(),
            R"({"city": "Paris"})");
  // The host saw only the valid call's events: none with the broken arguments.
  for (const std::string& event : events) EXPECT_EQ(event.find("\"5}\""), std::string::npos) << event;
  EXPECT_EQ(events.size(), 5u);
  std::string metrics = Metrics();
  EXPECT_NE(metrics.find("quantclaw_tool_call_escalations_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_breaker_open{tier=\"int4\"} 0\n"), std::string::npos);
}

TEST_F(CompleteTest, InvalidToolCallOnTheTopTierReachesTheHost) {
  UseConfig(Tier("bf16", "badtool", "bf16"), R"({"retries":0})");
  std::string response;
  ASSERT_EQ(Complete("bf16", kWeatherRequest, false, &response), QC_OK) << qc_last_error();
  EXPECT_EQ(json::parse(response).at("choices").at(0).at("message").at("tool_calls").at(0).at("function").at(
                "arguments").as_string(),
            R"({"city": 5})");
}

// The QuantClaw judge: asked when the rules decline, its answer cached by prompt, its failure bounded
// by the timeout and answered with the default task type.
std::string JudgeConfig(int port, const std::string& judge_model) {
  std::string base = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  return R"({"tiers":[{"name":"bf16","format":"bf16","model":"m","base_url":")" + base + R"("},
      {"name":"int4","format":"int4","model":"m","base_url":")" + base + R"("}],
    "policy":{"scorer":{"kind":"quantclaw","quant":{
      "detectors":["ruleDetector","loadModelDetector"],
      "judge":{"endpoint":"http://127.0.0.1:)" + std::to_string(port) + R"(","model":")" + judge_model +
         R"(","cacheTtlMs":60000,"timeoutMs":300},
      "taskTypes":[{"id":"coding","precision":"16bit","description":"code","keywords":["code"]},
                   {"id":"standard","precision":"4bit","description":""}],
      "defaultTaskType":"standard",
      "targets":{"4bit":{"provider":"p","model":"m"},"16bit":{"provider":"p","model":"m"}}}}}})";
}

TEST_F(CompleteTest, JudgeDecidesWhenTheRulesDeclineAndIsCached) {
  qc_router_free(router_);
  config_ = JudgeConfig(g_server->port(), "judge");
  ASSERT_EQ(qc_router_new(config_.data(), config_.size(), &router_), QC_OK) << qc_last_error();
  for (const char* session : {"a", "b"}) {
    std::string step = std::string(R"({"session_id":")") + session + R"(","messages":[{"role":"user","content":"fix it please"}]})";
    qc_bytes bytes = {reinterpret_cast<const uint8_t*>(step.data()), step.size()};
    ASSERT_EQ(qc_on_step(router_, &bytes, QC_FORMAT_JSON), QC_OK) << qc_last_error();
    std::string request = std::string(R"({"session_id":")") + session + "\"}";
    qc_bytes request_bytes = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};
    qc_decision decision = {sizeof(qc_decision)};
    ASSERT_EQ(qc_choose_precision(router_, &request_bytes, QC_FORMAT_JSON, &decision), QC_OK);
    EXPECT_STREQ(decision.tier_name, "bf16");
    EXPECT_STREQ(decision.reason, "quantclaw: task type coding (LLM judge; rules declined) -> 16bit");
  }
  std::string metrics = Metrics();
  EXPECT_NE(metrics.find("quantclaw_judge_calls_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_judge_cache_hits_total 1\n"), std::string::npos) << metrics;
}

TEST_F(CompleteTest, JudgeFailureOrTimeoutFallsBackToTheDefaultTaskType) {
  for (const char* model : {"judge-bad", "stall"}) {
    qc_router_free(router_);
    config_ = JudgeConfig(g_server->port(), model);
    ASSERT_EQ(qc_router_new(config_.data(), config_.size(), &router_), QC_OK) << qc_last_error();
    const std::string step = R"({"session_id":"a","messages":[{"role":"user","content":"fix it please"}]})";
    qc_bytes bytes = {reinterpret_cast<const uint8_t*>(step.data()), step.size()};
    auto start = std::chrono::steady_clock::now();
    ASSERT_EQ(qc_on_step(router_, &bytes, QC_FORMAT_JSON), QC_OK) << qc_last_error();
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.0) << model;
    const std::string request = R"({"session_id":"a"})";
    qc_bytes request_bytes = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};
    qc_decision decision = {sizeof(qc_decision)};
    ASSERT_EQ(qc_choose_precision(router_, &request_bytes, QC_FORMAT_JSON, &decision), QC_OK);
    EXPECT_STREQ(decision.tier_name, "int4") << model;
    EXPECT_STREQ(decision.reason, "quantclaw: rules declined; default task type standard -> 4bit") << model;
    EXPECT_NE(Metrics().find("quantclaw_judge_failures_total 1\n"), std::string::npos) << model;
  }
}

TEST_F(CompleteTest, LatencyCoefficientsArePooledPerTier) {
  std::string response;
  ASSERT_EQ(Complete("echo", kHello, false, &response), QC_OK);
  ASSERT_EQ(Complete("echo", kHello, false, &response), QC_OK);
  std::string metrics = Metrics();
  // Two calls of 3 completion tokens each: the pooled coefficient is total latency over 6 tokens.
  EXPECT_NE(metrics.find("quantclaw_output_tokens_total{tier=\"echo\"} 6\n"), std::string::npos) << metrics;
  size_t at = metrics.find("quantclaw_tier_ms_per_output_token{tier=\"echo\"} ");
  ASSERT_NE(at, std::string::npos) << metrics;
  double per_token = std::stod(metrics.substr(at + std::strlen("quantclaw_tier_ms_per_output_token{tier=\"echo\"} ")));
  EXPECT_GT(per_token, 0.0);
  EXPECT_LT(per_token, 1000.0);
  EXPECT_NE(metrics.find("quantclaw_cached_tokens_total{tier=\"echo\"} 10\n"), std::string::npos) << metrics;
}

TEST_F(CompleteTest, BadRequestsAreRefusedBeforeAnyCall) {
  std::string response;
  qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
  const std::string no_body = R"({"session_id":"s"})";
  qc_bytes bytes = {reinterpret_cast<const uint8_t*>(no_body.data()), no_body.size()};
  EXPECT_EQ(qc_complete(router_, &bytes, QC_FORMAT_JSON, nullptr, nullptr, &out), QC_ERR_PARSE);
  EXPECT_NE(std::string(qc_last_error()).find("/body: the OpenAI request is missing"), std::string::npos);
  EXPECT_EQ(qc_complete(router_, &bytes, QC_FORMAT_JSON, nullptr, nullptr, nullptr), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(Complete("no-such-tier", kHello, false, &response), QC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(qc_last_error()).find("force_tier names no tier"), std::string::npos);
}

// A token limit that is not a whole number fitting uint32 is the host's mistake, named by its pointer,
// and no tier is called for it; a whole number written as a double (16.0) is still a whole number.
TEST_F(CompleteTest, TokenLimitsThatAreNotWholeCountsAreInvalidArguments) {
  std::string response;
  size_t before = Received().size();
  const std::pair<const char*, const char*> bad[] = {
      {"max_tokens", "1.5"},           {"max_tokens", "1e30"},   {"max_tokens", "18446744073709551615"},
      {"max_tokens", "-1"},            {"max_tokens", "4294967296"}, {"max_tokens", "\"16\""},
      {"max_completion_tokens", "-0.5"}, {"max_completion_tokens", "true"}};
  for (const auto& [key, value] : bad) {
    std::string body = std::string(R"({"model":"m","messages":[{"role":"user","content":"hi"}],")") + key +
                       "\":" + value + "}";
    EXPECT_EQ(Complete("echo", body, false, &response), QC_ERR_INVALID_ARGUMENT) << key << " " << value;
    EXPECT_NE(std::string(qc_last_error()).find(std::string("/body/") + key), std::string::npos)
        << key << " " << value << ": " << qc_last_error();
  }
  EXPECT_EQ(Received().size(), before);
  for (const char* value : {"16.0", "0", "4294967295", "null"}) {
    std::string body = std::string(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":)") +
                       value + "}";
    EXPECT_EQ(Complete("echo", body, false, &response), QC_OK) << value << ": " << qc_last_error();
  }
}

// An API key never leaves in anything the library says: not in qc_last_error, the metrics, a response
// or stderr, whatever fails, even when the server echoes the request's headers back in its error.
TEST_F(CompleteTest, TheApiKeyNeverLeaks) {
  const std::string canary = "sk-canary-5f1e0c2b9a7d4e6f8a1b3c5d7e9f0a2b4c6d8e0f";
  setenv("QC_CANARY_KEY", canary.c_str(), 1);
  std::fflush(stderr);
  char stderr_path[] = "/tmp/quantclaw-stderr-XXXXXX";
  const int captured = mkstemp(stderr_path);
  ASSERT_GE(captured, 0);
  const int saved_stderr = dup(2);
  dup2(captured, 2);

  std::vector<std::string> said;  // every message, metrics text and response the library gave
  const std::string base = "http://127.0.0.1:" + std::to_string(g_server->port()) + "/v1";
  std::string tiers;
  const std::vector<std::string> models = {"leak401", "leak500", "leak-cut", "leak-invalid", "leak-event",
                                           "http500", "invalid-json", "stall", "truncated", "echo"};
  for (const std::string& model : models) {
    tiers += R"({"name":")" + model + R"(","format":"bf16","model":")" + model + R"(","base_url":")" + base +
             R"(","api_key_env":"QC_CANARY_KEY"},)";
  }
  tiers += R"({"name":"down","format":"int4","model":"m","base_url":"http://127.0.0.1:1/v1","api_key_env":"QC_CANARY_KEY"})";
  UseConfig(tiers, R"({"retries":1,"backoff_initial_ms":1,"first_byte_timeout_ms":300,"failover":false})");
  for (const std::string& model : models) {
    for (bool stream : {false, true}) {
      std::string response;
      std::vector<std::string> events;
      const int32_t status = Complete(model, kHello, stream, &response, &events);
      EXPECT_EQ(status == QC_OK, model == "echo") << model << ": " << qc_last_error();
      said.push_back(model + (stream ? " streamed: " : ": ") + (status == QC_OK ? response : qc_last_error()));
      for (const std::string& event : events) said.push_back(event);
    }
  }
  std::string response;
  EXPECT_EQ(Complete("down", kHello, false, &response), QC_ERR_UNAVAILABLE);
  said.push_back(qc_last_error());
  said.push_back(Metrics());
  // The servers did see the key, and echoed it: what came back was cut out of the messages.
  bool sent = false;
  for (const json::value& request : Received()) {
    const json::value& authorization = request.at("authorization");
    sent = sent || (authorization.is_string() && authorization.as_string() == "Bearer " + canary);
  }
  EXPECT_TRUE(sent);
  for (const std::string& text : said) {
    if (text.rfind("leak401: ", 0) == 0 || text.rfind("leak-cut: ", 0) == 0 ||
        text.rfind("leak-event streamed: ", 0) == 0) {
      EXPECT_NE(text.find("[redac"), std::string::npos) << text;  // the excerpt may cut the mark
    }
  }

  // Config errors: a key pasted where its variable's name goes, a judge's apiKey next to a mistake.
  for (const std::string& config :
       {R"({"tiers":[{"name":"a","format":"bf16","model":"m","base_url":"http://h/v1","api_key_env":")" + canary +
            R"("}]})",
        R"({"tiers":[{"name":"a","format":"bf16","model":"m","base_url":"http://h/v1"}],"policy":{"scorer":{
            "kind":"quantclaw","quant":{"judge":{"endpoint":"http://h","model":"m","apiKey":")" + canary +
            R"(","timeoutMs":-1,"apikey":")" + canary + R"("}}}}})"}) {
    qc_router* rejected = nullptr;
    EXPECT_EQ(qc_router_new(config.data(), config.size(), &rejected), QC_ERR_INVALID_CONFIG);
    said.push_back(qc_last_error());
  }
  // The judge's key, with a judge that echoes it back.
  qc_router_free(router_);
  config_ = JudgeConfig(g_server->port(), "leak401");
  const std::string judge = R"("judge":{)";
  config_.replace(config_.find(judge), judge.size(), judge + R"("apiKey":")" + canary + R"(",)");
  ASSERT_EQ(qc_router_new(config_.data(), config_.size(), &router_), QC_OK) << qc_last_error();
  const std::string step = R"({"session_id":"a","messages":[{"role":"user","content":"fix it please"}]})";
  qc_bytes bytes = {reinterpret_cast<const uint8_t*>(step.data()), step.size()};
  ASSERT_EQ(qc_on_step(router_, &bytes, QC_FORMAT_JSON), QC_OK) << qc_last_error();
  const std::string request = R"({"session_id":"a"})";
  qc_bytes request_bytes = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};
  qc_decision decision = {sizeof(qc_decision)};
  ASSERT_EQ(qc_choose_precision(router_, &request_bytes, QC_FORMAT_JSON, &decision), QC_OK);
  said.push_back(decision.reason);
  said.push_back(Metrics());
  EXPECT_NE(said.back().find("quantclaw_judge_failures_total 1\n"), std::string::npos);

  std::fflush(stderr);
  dup2(saved_stderr, 2);
  close(saved_stderr);
  std::string errors;
  if (FILE* file = std::fopen(stderr_path, "r")) {
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) errors.append(buffer, n);
    std::fclose(file);
  }
  close(captured);
  std::remove(stderr_path);
  said.push_back(errors);
  unsetenv("QC_CANARY_KEY");
  // Not the key, nor any run of 8 of its characters (the start of an echo cut off by an excerpt).
  for (const std::string& text : said) {
    for (size_t at = 0; at + 8 <= canary.size(); ++at) {
      EXPECT_EQ(text.find(canary.substr(at, 8)), std::string::npos) << text;
    }
  }
}

// TLS: verification stays on. A server whose certificate nobody vouches for is refused with a message
// that says so, once (another try would meet the same certificate); the tier's "ca_file" makes it trusted.
// The certificate is made for the test, self-signed for 127.0.0.1, with the openssl command line.
class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char scratch[] = "/tmp/quantclaw-tls-XXXXXX";
    if (mkdtemp(scratch) == nullptr) std::abort();
    directory_ = scratch;
    std::string command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                          "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
                          directory_ + "/key.pem -out " + directory_ + "/cert.pem 2>/dev/null";
    if (std::system(command.c_str()) != 0) return;  // no openssl: the tests skip
    server_ = new Server({"--tls", directory_ + "/cert.pem", directory_ + "/key.pem"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    std::system(("rm -rf " + directory_).c_str());
  }
  void SetUp() override {
    if (server_ == nullptr) GTEST_SKIP() << "openssl could not make a certificate";
  }
  void TearDown() override {
    if (router_ != nullptr) qc_router_free(router_);
  }

  int32_t NewRouter(const std::string& tier_extra, const std::string& backend = R"({"retries":2,"failover":false})") {
    if (router_ != nullptr) qc_router_free(router_);
    router_ = nullptr;
    std::string config = R"({"tiers":[{"name":"secure","format":"bf16","model":"echo","base_url":"https://127.0.0.1:)" +
                         std::to_string(server_->port()) + R"(/v1")" + tier_extra + R"(}],"backend":)" + backend + "}";
    return qc_router_new(config.data(), config.size(), &router_);
  }

  int32_t Complete(std::string* response) {
    const std::string request = R"({"session_id":"s","endpoint":"chat","body":{"model":"x",
        "messages":[{"role":"user","content":"hello"}]}})";
    qc_bytes bytes = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};
    qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
    int32_t status = qc_complete(router_, &bytes, QC_FORMAT_JSON, nullptr, nullptr, &out);
    if (status == QC_OK) {
      response->assign(reinterpret_cast<const char*>(out.data), out.size);
      qc_buffer_free(&out);
    }
    return status;
  }

  std::string Metrics() {
    qc_buffer metrics = {sizeof(qc_buffer), 0, nullptr, 0};
    EXPECT_EQ(qc_metrics(router_, &metrics), QC_OK);
    std::string text(reinterpret_cast<const char*>(metrics.data), metrics.size);
    qc_buffer_free(&metrics);
    return text;
  }

  static inline std::string directory_;
  static inline Server* server_ = nullptr;
  qc_router* router_ = nullptr;
};

TEST_F(TlsTest, AnUntrustedCertificateIsRefusedClearlyAndNotRetried) {
  ASSERT_EQ(NewRouter(""), QC_OK) << qc_last_error();
  std::string response;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Complete(&response), QC_ERR_UNAVAILABLE);
  const std::string error = qc_last_error();
  EXPECT_NE(error.find("tier secure: TLS: the server's certificate is not trusted"), std::string::npos) << error;
  EXPECT_NE(error.find("ca_file"), std::string::npos) << error;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.0);
  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find("quantclaw_call_retries_total{tier=\"secure\"} 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_http_requests_total{tier=\"secure\"} 1\n"), std::string::npos) << metrics;
}

TEST_F(TlsTest, TheTiersCaFileMakesItTrusted) {
  ASSERT_EQ(NewRouter(R"(,"ca_file":")" + directory_ + R"(/cert.pem")"), QC_OK) << qc_last_error();
  std::string response;
  ASSERT_EQ(Complete(&response), QC_OK) << qc_last_error();
  EXPECT_EQ(json::parse(response).at("choices").at(0).at("message").at("content").as_string(), "echo: hello");
}

TEST_F(TlsTest, ACaFileThatCannotBeReadIsAConfigError) {
  EXPECT_EQ(NewRouter(R"(,"ca_file":")" + directory_ + R"(/missing.pem")"), QC_ERR_INVALID_CONFIG);
  EXPECT_EQ(std::string(qc_last_error()),
            "/tiers/0/ca_file: cannot read the CA file \"" + directory_ + "/missing.pem\"");
  EXPECT_EQ(NewRouter(R"(,"ca_file":")" + directory_ + R"(")"), QC_ERR_INVALID_CONFIG);  // a directory
  EXPECT_EQ(NewRouter(R"(,"ca_file":7)"), QC_ERR_INVALID_CONFIG);
}

// The judge's calls keep verification on too: an untrusted judge is a failed judge call.
TEST_F(TlsTest, TheJudgeVerifiesItsServer) {
  std::string config = JudgeConfig(server_->port(), "judge");
  const std::string from = "\"endpoint\":\"http://";
  config.replace(config.find(from), from.size(), "\"endpoint\":\"https://");
  ASSERT_EQ(qc_router_new(config.data(), config.size(), &router_), QC_OK) << qc_last_error();
  const std::string step = R"({"session_id":"a","messages":[{"role":"user","content":"fix it please"}]})";
  qc_bytes bytes = {reinterpret_cast<const uint8_t*>(step.data()), step.size()};
  ASSERT_EQ(qc_on_step(router_, &bytes, QC_FORMAT_JSON), QC_OK) << qc_last_error();
  const std::string request = R"({"session_id":"a"})";
  qc_bytes request_bytes = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};
  qc_decision decision = {sizeof(qc_decision)};
  ASSERT_EQ(qc_choose_precision(router_, &request_bytes, QC_FORMAT_JSON, &decision), QC_OK);
  EXPECT_STREQ(decision.reason, "quantclaw: rules declined; default task type standard -> 4bit");
  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find("quantclaw_judge_failures_total 1\n"), std::string::npos) << metrics;
}

// ... and its "caFile" trusts a private CA, as a tier's "ca_file" does; a path that cannot be read is a
// config error at its pointer.
TEST_F(TlsTest, TheJudgesCaFileMakesItTrusted) {
  std::string config = JudgeConfig(server_->port(), "judge");
  const std::string from = "\"endpoint\":\"http://";
  config.replace(config.find(from), from.size(), "\"caFile\":\"" + directory_ + "/cert.pem\",\"endpoint\":\"https://");
  // A TLS handshake on a loaded machine can outlast the shared config's 300 ms.
  config.replace(config.find("\"timeoutMs\":300"), 15, "\"timeoutMs\":10000");
  ASSERT_EQ(qc_router_new(config.data(), config.size(), &router_), QC_OK) << qc_last_error();
  const std::string step = R"({"session_id":"a","messages":[{"role":"user","content":"fix it please"}]})";
  qc_bytes bytes = {reinterpret_cast<const uint8_t*>(step.data()), step.size()};
  ASSERT_EQ(qc_on_step(router_, &bytes, QC_FORMAT_JSON), QC_OK) << qc_last_error();
  const std::string request = R"({"session_id":"a"})";
  qc_bytes request_bytes = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};
  qc_decision decision = {sizeof(qc_decision)};
  ASSERT_EQ(qc_choose_precision(router_, &request_bytes, QC_FORMAT_JSON, &decision), QC_OK);
  EXPECT_NE(std::string(decision.reason).find("LLM judge"), std::string::npos) << decision.reason;
  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find("quantclaw_judge_failures_total 0\n"), std::string::npos) << metrics;

  qc_router_free(router_);
  router_ = nullptr;
  std::string missing = JudgeConfig(server_->port(), "judge");
  missing.replace(missing.find(from), from.size(), "\"caFile\":\"" + directory_ + "/missing.pem\",\"endpoint\":\"https://");
  EXPECT_EQ(qc_router_new(missing.data(), missing.size(), &router_), QC_ERR_INVALID_CONFIG);
  EXPECT_NE(std::string(qc_last_error()).find("/judge/caFile: cannot read the CA file"), std::string::npos)
      << qc_last_error();
}

}  // namespace
