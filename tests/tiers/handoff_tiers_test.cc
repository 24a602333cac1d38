// KV hand-off between real llama-server tiers (backend/handoff.h): the Mix-Quant phase split (prefill on
// q4_0, the cache moved by slot file, decode on f16), a switching session carrying its cache, and
// hand-offs that break on the way (a prefill server killed, a slot file the decode server cannot find,
// several sessions at once on two slots) still answering from a cold call, counted.
//
// Its own servers: q4_0 and f16 sharing one slot folder (--slot-save-path), and an f16 with a folder of
// its own, which can never find what the others save (a misdeclared group). Exit 77 as real_tiers_test.
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "llama_tiers.h"
#include "quantclaw/quantclaw.h"

namespace {

namespace json = boost::json;
using quantclaw_test::LlamaServer;

struct HandoffTiers {
  std::unique_ptr<LlamaServer> q4_0, f16, f16_apart;
  std::string server_binary, models, slot_dir, apart_dir;
};
HandoffTiers* tiers = nullptr;

std::string Tier(const std::string& name, const std::string& format, const std::string& base_url,
                 const std::string& slot_dir) {
  std::string tier = R"({"name":")" + name + R"(","format":")" + format + R"(","model":"tiny-)" + name +
                     R"(","base_url":")" + base_url + "\"";
  if (!slot_dir.empty()) {
    tier += R"(,"handoff":{"kind":"llama_slots","group":"cpu","slot_dir":")" + slot_dir + R"(","slots":2})";
  }
  return tier + "}";
}

// q4_0 and f16 in one hand-off group (their servers' URLs given), every unforced step to f16
// (threshold 0), split when its context reaches 200 tokens.
std::string Config(const std::string& q4_0_url, const std::string& f16_url, bool handoff = true) {
  const std::string dir = handoff ? tiers->slot_dir : "";
  return R"({"tiers":[)" + Tier("q4_0", "q4_0", q4_0_url, dir) + "," + Tier("f16", "fp16", f16_url, dir) +
         R"(],"policy":{"thresholds":[0.0],"phase_split":{"min_prompt_tokens":200,"prefill_tier":"q4_0","decode_tier":"f16"}},
           "backend":{"retries":0,"connect_timeout_ms":500}})";
}

class Router {
 public:
  explicit Router(const std::string& config) {
    if (qc_router_new(config.data(), config.size(), &router_) != QC_OK) ADD_FAILURE() << qc_last_error();
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
  bool Counts(const std::string& line) const { return Metrics().find(line + "\n") != std::string::npos; }

 private:
  qc_router* router_ = nullptr;
};

struct Completion {
  int32_t status = -1;
  std::string error;
  json::value response;
};

Completion Complete(const Router& router, const std::string& session, const json::array& messages,
                    const std::string& force_tier = "", int max_tokens = 8) {
  json::object body{{"model", "auto"}, {"messages", messages}, {"max_tokens", max_tokens}, {"temperature", 0}};
  json::object request{{"session_id", session}, {"body", std::move(body)}};
  if (!force_tier.empty()) request["hints"] = json::object{{"force_tier", force_tier}};
  const std::string bytes = json::serialize(request);
  qc_bytes in = {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
  qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
  Completion completion;
  completion.status = qc_complete(router.get(), &in, QC_FORMAT_JSON, nullptr, nullptr, &out);
  if (completion.status == QC_OK) {
    completion.response = json::parse(std::string_view(reinterpret_cast<const char*>(out.data), out.size));
    qc_buffer_free(&out);
  } else {
    completion.error = qc_last_error();
  }
  return completion;
}

// A long agent prompt: about 1,500 tokens of the tiny model's vocabulary, different per `seed` so that no
// earlier test's cache serves it.
json::array LongPrompt(const std::string& seed) {
  std::string text = "Session " + seed + ". ";
  for (int i = 0; i < 60; ++i) {
    text += "Step " + std::to_string(i) + " of " + seed + ": the tool returned rows, costs and the outlook. ";
  }
  return json::array{json::object{{"role", "system"}, {"content", "You are an agent."}},
                     json::object{{"role", "user"}, {"content", text}}};
}

int64_t Int(const json::value* value) {
  if (value == nullptr) return -1;
  return value->is_int64() ? value->get_int64() : value->is_uint64() ? int64_t(value->get_uint64()) : -1;
}

const json::object& Handoff(const Completion& completion) {
  static const json::object none;
  const json::value* handoff = completion.response.at("quantclaw").as_object().if_contains("handoff");
  return handoff ? handoff->as_object() : none;
}

std::string Answer(const Completion& completion) {
  return std::string(completion.response.at("choices").at(0).at("message").at("content").as_string());
}

size_t FilesIn(const std::string& dir) {
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++files;
  return files;
}

TEST(HandoffTiers, TheSplitPrefillsOnQ4AndDecodesOnF16FromTheRestoredCache) {
  Router router(Config(tiers->q4_0->base_url(), tiers->f16->base_url()));
  Completion split = Complete(router, "split", LongPrompt("split"));
  ASSERT_EQ(split.status, QC_OK) << split.error;
  const json::object& quantclaw = split.response.at("quantclaw").as_object();
  EXPECT_EQ(quantclaw.at("tier").as_string(), "f16");
  EXPECT_EQ(quantclaw.at("prefill_tier").as_string(), "q4_0");
  const json::object& handoff = Handoff(split);
  ASSERT_TRUE(handoff.at("ok").as_bool()) << json::serialize(quantclaw);
  const int64_t prompt = Int(split.response.at("usage").as_object().if_contains("prompt_tokens"));
  EXPECT_GT(prompt, 1000);
  // q4_0 computed the prompt; f16 found all but its last token cached (llama-server always re-runs one).
  EXPECT_GE(Int(handoff.if_contains("prefill_prompt_tokens")), prompt - 1);
  EXPECT_GE(Int(handoff.if_contains("tokens")), prompt - 1);
  EXPECT_LE(Int(handoff.if_contains("decode_prompt_n")), 4) << json::serialize(handoff);
  EXPECT_GE(Int(handoff.if_contains("decode_cached_tokens")), prompt - 4);
  EXPECT_GT(Int(handoff.if_contains("bytes")), 100000);
  EXPECT_FALSE(Answer(split).empty());
  EXPECT_NE(std::string(quantclaw.at("reason").as_string()).find("split hand-off q4_0 -> f16"), std::string::npos);
  EXPECT_EQ(FilesIn(tiers->slot_dir), 0u) << "the slot file stays behind";
  EXPECT_TRUE(router.Counts("quantclaw_prefill_calls_total{tier=\"q4_0\"} 1")) << router.Metrics();
  EXPECT_TRUE(router.Counts("quantclaw_decode_calls_total{tier=\"f16\"} 1"));
  EXPECT_TRUE(router.Counts("quantclaw_handoffs_succeeded_total{tier=\"f16\"} 1"));
  EXPECT_TRUE(router.Counts("quantclaw_handoff_tokens_total " + std::to_string(Int(handoff.if_contains("tokens")))));
  EXPECT_TRUE(router.Counts("quantclaw_handoff_cache_missed_total 0"));
}

TEST(HandoffTiers, ASwitchingSessionCarriesItsCacheToTheNewTier) {
  Router router(Config(tiers->q4_0->base_url(), tiers->f16->base_url()));
  json::array messages = LongPrompt("switch");
  Completion first = Complete(router, "switch", messages, "q4_0");
  ASSERT_EQ(first.status, QC_OK) << first.error;
  EXPECT_TRUE(Handoff(first).empty());  // the first step has no warm tier to carry from
  messages.push_back(json::object{{"role", "assistant"}, {"content", Answer(first)}});
  messages.push_back(json::object{{"role", "user"}, {"content", "Now the costs only."}});
  Completion second = Complete(router, "switch", messages, "f16");  // forced: no split, a plain switch
  ASSERT_EQ(second.status, QC_OK) << second.error;
  const json::object& handoff = Handoff(second);
  EXPECT_EQ(handoff.at("use").as_string(), "switch");
  ASSERT_TRUE(handoff.at("ok").as_bool()) << json::serialize(second.response.at("quantclaw"));
  const int64_t prompt = Int(second.response.at("usage").as_object().if_contains("prompt_tokens"));
  // Only the new turn is computed on f16: the first step's prompt came along.
  EXPECT_LT(Int(handoff.if_contains("decode_prompt_n")), prompt / 4) << json::serialize(handoff);
  EXPECT_TRUE(router.Counts("quantclaw_handoffs_succeeded_total{tier=\"f16\"} 1")) << router.Metrics();
}

TEST(HandoffTiers, ARestoreThatFindsNoFileFallsBackToACountedColdCall) {
  // The f16 server reads another folder than the group declares: the file q4_0 saved is not there.
  Router router(Config(tiers->q4_0->base_url(), tiers->f16_apart->base_url()));
  Completion split = Complete(router, "missing", LongPrompt("missing"));
  ASSERT_EQ(split.status, QC_OK) << split.error;
  EXPECT_EQ(split.response.at("quantclaw").at("tier").as_string(), "f16");
  const json::object& handoff = Handoff(split);
  EXPECT_FALSE(handoff.at("ok").as_bool());
  EXPECT_NE(std::string(handoff.at("failure").as_string()).find("restore failed"), std::string::npos)
      << json::serialize(handoff);
  EXPECT_GT(Int(handoff.if_contains("decode_prompt_n")), 1000);  // cold: the whole prompt computed
  EXPECT_FALSE(Answer(split).empty());
  EXPECT_EQ(FilesIn(tiers->slot_dir), 0u);
  EXPECT_TRUE(router.Counts("quantclaw_handoffs_fell_back_total{tier=\"f16\"} 1")) << router.Metrics();
}

TEST(HandoffTiers, AKilledPrefillServerFallsBackToACountedColdCall) {
  LlamaServer doomed(tiers->server_binary, tiers->models + "/tiny-q4_0.gguf", "tiny-q4_0",
                     {"--slot-save-path", tiers->slot_dir});
  ASSERT_TRUE(doomed.Start()) << doomed.error();
  Router router(Config(doomed.base_url(), tiers->f16->base_url()));
  doomed.Kill();
  Completion split = Complete(router, "killed", LongPrompt("killed"));
  ASSERT_EQ(split.status, QC_OK) << split.error;
  const json::object& handoff = Handoff(split);
  EXPECT_FALSE(handoff.at("ok").as_bool());
  EXPECT_NE(std::string(handoff.at("failure").as_string()).find("prefill failed"), std::string::npos)
      << json::serialize(handoff);
  EXPECT_FALSE(Answer(split).empty());
  EXPECT_TRUE(router.Counts("quantclaw_handoffs_fell_back_total{tier=\"f16\"} 1")) << router.Metrics();
}

TEST(HandoffTiers, SessionsSplittingAtOnceAllAnswerAndEveryHandoffIsCounted) {
  // Four sessions on two slots per server: some share a slot, whose restore waits while it is busy.
  Router router(Config(tiers->q4_0->base_url(), tiers->f16->base_url()));
  constexpr int kSessions = 4;
  std::atomic<int> answered{0}, arrived{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i) {
    threads.emplace_back([&, i] {
      Completion split = Complete(router, "busy-" + std::to_string(i), LongPrompt("busy" + std::to_string(i)));
      if (split.status != QC_OK || Answer(split).empty()) return;
      ++answered;
      if (Handoff(split).at("ok").as_bool()) ++arrived;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(answered.load(), kSessions);
  EXPECT_TRUE(router.Counts("quantclaw_handoffs_attempted_total{tier=\"f16\"} " + std::to_string(kSessions)));
  EXPECT_TRUE(router.Counts("quantclaw_handoffs_succeeded_total{tier=\"f16\"} " + std::to_string(arrived.load())))
      << router.Metrics();
  EXPECT_TRUE(router.Counts("quantclaw_handoffs_fell_back_total{tier=\"f16\"} " + std::to_string(kSessions - arrived.load())));
  EXPECT_EQ(FilesIn(tiers->slot_dir), 0u);
}

TEST(HandoffTiers, TiersOutsideAGroupSplitColdAndSaySo) {
  Router router(Config(tiers->q4_0->base_url(), tiers->f16->base_url(), false));
  Completion split = Complete(router, "nogroup", LongPrompt("nogroup"));
  ASSERT_EQ(split.status, QC_OK) << split.error;
  EXPECT_NE(std::string(split.response.at("quantclaw").at("reason").as_string()).find("share no hand-off group"),
            std::string::npos);
  EXPECT_TRUE(router.Counts("quantclaw_phase_splits_cold_total 1")) << router.Metrics();
  EXPECT_TRUE(router.Counts("quantclaw_prefill_calls_total{tier=\"q4_0\"} 0"));
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const bool required = std::getenv("QUANTCLAW_REQUIRE_REAL_TIERS") != nullptr;
  quantclaw_test::LlamaPaths paths = quantclaw_test::FindLlama(QC_TIERS_SCRIPT);
  if (!paths.error.empty()) {
    std::fprintf(stderr, "%s: %s\n", required ? "FAILED" : "SKIPPED (real tiers unavailable)", paths.error.c_str());
    return required ? 1 : 77;
  }
  char slot_template[] = "/tmp/quantclaw-slots-XXXXXX";
  char apart_template[] = "/tmp/quantclaw-slots-apart-XXXXXX";
  if (mkdtemp(slot_template) == nullptr || mkdtemp(apart_template) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  HandoffTiers started;
  started.server_binary = paths.server;
  started.models = paths.models;
  started.slot_dir = slot_template;
  started.apart_dir = apart_template;
  started.q4_0 = std::make_unique<LlamaServer>(paths.server, paths.models + "/tiny-q4_0.gguf", "tiny-q4_0",
                                               std::vector<std::string>{"--slot-save-path", started.slot_dir});
  started.f16 = std::make_unique<LlamaServer>(paths.server, paths.models + "/tiny-f16.gguf", "tiny-f16",
                                              std::vector<std::string>{"--slot-save-path", started.slot_dir});
  started.f16_apart = std::make_unique<LlamaServer>(paths.server, paths.models + "/tiny-f16.gguf", "tiny-f16",
                                                    std::vector<std::string>{"--slot-save-path", started.apart_dir});
  int result = 1;
  if (started.q4_0->Start() && started.f16->Start() && started.f16_apart->Start()) {
    tiers = &started;
    result = RUN_ALL_TESTS();
    tiers = nullptr;
  } else {
    for (auto* server : {started.q4_0.get(), started.f16.get(), started.f16_apart.get()}) {
      if (!server->error().empty()) std::fprintf(stderr, "FAILED: %s\n", server->error().c_str());
    }
  }
  started.q4_0.reset();
  started.f16.reset();
  started.f16_apart.reset();
  std::error_code ignored;
  std::filesystem::remove_all(started.slot_dir, ignored);
  std::filesystem::remove_all(started.apart_dir, ignored);
  return result;
}
