// The vllm_disagg hand-off (backend/handoff.h) against a loopback stand-in for a vLLM prefill/decode pair
// (vllm_disagg_server.py), which checks both hops' wire shape as vLLM's proxies send them. No vLLM runs
// here: this pins what quantclaw sends, not what a real vLLM accepts.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "child_server.h"
#include "quantclaw/quantclaw.h"

namespace {

namespace json = boost::json;

// The vLLM stand-in as a child process (child_server.h), and what reached it.
class Server : public quantclaw_test::ChildServer {
 public:
  Server() : ChildServer("vLLM stand-in", QC_VLLM_SERVER_SCRIPT) {}
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/v1"; }

  // What reached it, fetched with curl rather than with the client under test.
  json::array Received() const { return json::parse(Get("/requests")).as_array(); }
};

// Two tiers of one vllm_disagg group; the policy sends every step to the reference (threshold 0) and
// splits it (min_prompt_tokens 1). `prefill_model` picks the prefill server's behaviour.
std::string Config(const Server& server, const std::string& prefill_model, bool handoff = true) {
  const std::string group = handoff ? R"(,"handoff":{"kind":"vllm_disagg","group":"gpu"})" : "";
  return R"({"tiers":[{"name":"w4","format":"nvfp4","model":")" + prefill_model + R"(","base_url":")" +
         server.base_url() + "\"" + group + R"(},{"name":"bf16","format":"bf16","model":"vllm-decode","base_url":")" +
         server.base_url() + "\"" + group + R"(}],
      "policy":{"thresholds":[0.0],"phase_split":{"min_prompt_tokens":1,"prefill_tier":"w4","decode_tier":"bf16"}},
      "backend":{"retries":0}})";
}

struct Result {
  int32_t status = -1;
  json::value response;
  std::vector<std::string> events;
};

int32_t Collect(void* user, const uint8_t* data, size_t size) {
  static_cast<Result*>(user)->events.emplace_back(reinterpret_cast<const char*>(data), size);
  return 0;
}

Result Complete(const std::string& config, const std::string& session, bool stream, const std::string& extra = "") {
  qc_router* router = nullptr;
  Result result;
  if (qc_router_new(config.data(), config.size(), &router) != QC_OK) {
    ADD_FAILURE() << qc_last_error();
    return result;
  }
  const std::string request = R"({"session_id":")" + session + R"(","body":{"model":"auto","max_tokens":64,)" + extra +
                              R"("stream_options":{"include_usage":true},"min_tokens":2,
      "messages":[{"role":"user","content":"Summarise the quarterly report in one line."}]}})";
  qc_bytes in = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};
  qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
  result.status = qc_complete(router, &in, QC_FORMAT_JSON, stream ? &Collect : nullptr, &result, &out);
  if (result.status == QC_OK) {
    result.response = json::parse(std::string_view(reinterpret_cast<const char*>(out.data), out.size));
    qc_buffer_free(&out);
  } else {
    ADD_FAILURE() << qc_last_error();
  }
  qc_buffer metrics = {sizeof(qc_buffer), 0, nullptr, 0};
  if (qc_metrics(router, &metrics) == QC_OK) {
    result.events.emplace_back("METRICS " + std::string(reinterpret_cast<const char*>(metrics.data), metrics.size));
    qc_buffer_free(&metrics);
  }
  qc_router_free(router);
  return result;
}

std::string Metrics(const Result& result) {
  return result.events.empty() ? "" : result.events.back();
}

std::string Content(const json::value& response) {
  return std::string(response.at("choices").at(0).at("message").at("content").as_string());
}

TEST(VllmDisaggHandoff, BothHopsCarryTheProtocolsFields) {
  Server server;
  Result result = Complete(Config(server, "vllm-prefill"), "split-1", false, R"("max_completion_tokens":64,)");
  ASSERT_EQ(result.status, QC_OK);
  EXPECT_EQ(Content(result.response), "decoded remotely");
  const json::object& quantclaw = result.response.at("quantclaw").as_object();
  EXPECT_EQ(quantclaw.at("tier").as_string(), "bf16");
  EXPECT_EQ(quantclaw.at("prefill_tier").as_string(), "w4");
  EXPECT_EQ(quantclaw.at("handoff").at("kind").as_string(), "vllm_disagg");
  EXPECT_TRUE(quantclaw.at("handoff").at("ok").as_bool()) << json::serialize(quantclaw);

  const json::array received = server.Received();
  ASSERT_EQ(received.size(), 2u) << json::serialize(received);
  const json::object& prefill = received[0].as_object();
  const json::object& decode = received[1].as_object();
  EXPECT_EQ(prefill.at("hop").as_string(), "prefill");
  EXPECT_EQ(decode.at("hop").as_string(), "decode");
  EXPECT_TRUE(prefill.at("violations").as_array().empty()) << json::serialize(prefill);
  EXPECT_TRUE(decode.at("violations").as_array().empty()) << json::serialize(decode);
  // The decode hop is the host's request: its own limit, and the transfer the prefill hop returned.
  EXPECT_EQ(decode.at("max_tokens").as_int64(), 64);
  EXPECT_EQ(decode.at("kv_transfer_params").at("remote_engine_id").as_string(), "engine-7");
  EXPECT_EQ(decode.at("request_id"), prefill.at("request_id"));
  EXPECT_FALSE(prefill.at("request_id").as_string().empty());

  const std::string metrics = Metrics(result);
  EXPECT_NE(metrics.find("quantclaw_prefill_calls_total{tier=\"w4\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_decode_calls_total{tier=\"bf16\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_handoffs_attempted_total{tier=\"bf16\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_handoffs_succeeded_total{tier=\"bf16\"} 1"), std::string::npos) << metrics;
}

TEST(VllmDisaggHandoff, AStreamedDecodeHopStreamsToTheHost) {
  Server server;
  Result result = Complete(Config(server, "vllm-prefill"), "split-stream", true);
  ASSERT_EQ(result.status, QC_OK);
  const json::array received = server.Received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].at("stream"), json::value(false));  // the prefill hop never streams
  EXPECT_EQ(received[1].at("stream"), json::value(true));
  EXPECT_TRUE(received[0].at("violations").as_array().empty()) << json::serialize(received[0]);
  EXPECT_TRUE(received[1].at("violations").as_array().empty()) << json::serialize(received[1]);
  EXPECT_GE(result.events.size(), 3u);  // two content events and the metrics line
}

TEST(VllmDisaggHandoff, APrefillAnswerWithoutTransferParamsFallsBackToACountedColdDecode) {
  Server server;
  Result result = Complete(Config(server, "vllm-prefill-off"), "split-off", false);
  ASSERT_EQ(result.status, QC_OK);
  EXPECT_EQ(Content(result.response), "decoded cold");
  const json::object& handoff = result.response.at("quantclaw").at("handoff").as_object();
  EXPECT_FALSE(handoff.at("ok").as_bool());
  EXPECT_NE(std::string(handoff.at("failure").as_string()).find("no kv_transfer_params"), std::string::npos);
  const json::array received = server.Received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_TRUE(received[1].at("kv_transfer_params").is_null()) << json::serialize(received[1]);
  EXPECT_NE(Metrics(result).find("quantclaw_handoffs_fell_back_total{tier=\"bf16\"} 1"), std::string::npos);
}

TEST(VllmDisaggHandoff, TiersThatCannotHandOffSplitColdAndSaySo) {
  Server server;
  Result result = Complete(Config(server, "vllm-prefill", false), "split-none", false);
  ASSERT_EQ(result.status, QC_OK);
  const json::array received = server.Received();
  ASSERT_EQ(received.size(), 1u) << json::serialize(received);  // no prefill hop
  EXPECT_EQ(received[0].at("hop").as_string(), "decode");
  const std::string reason(result.response.at("quantclaw").at("reason").as_string());
  EXPECT_NE(reason.find("share no hand-off group"), std::string::npos) << reason;
  EXPECT_NE(Metrics(result).find("quantclaw_phase_splits_cold_total 1"), std::string::npos);
}

}  // namespace
