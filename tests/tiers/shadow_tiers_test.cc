// Shadow sampling against real llama.cpp tiers (f16, q8_0, q4_0 of one tiny model): with rate 1, every
// qc_complete step is teacher-forced on the reference and the low tier, labelled by KL and written as a
// trace record; the q4_0 tier must sit measurably further from f16 than q8_0 does.
//
// It drives the router behind qc_complete (Router::Complete with the request decoded as qc_complete
// decodes it) from the static twin of the library, because reading the traces back needs TraceReader
// and the generated messages, and a second copy of those next to libquantclaw.so's would register the
// same .proto twice in the one libprotobuf.
//
// Exit 77 (ctest: skipped) when the tiers cannot be built here and QUANTCLAW_REQUIRE_REAL_TIERS is unset.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <curl/curl.h>
#include <gtest/gtest.h>

#include "llama_tiers.h"
#include "real_tiers_main.h"
#include "messages/completion_request.h"
#include "router/router.h"
#include "telemetry/trace_file.h"
#include "quantclaw/v1/outcome.pb.h"
#include "quantclaw/v1/step.pb.h"
#include "quantclaw/v1/trace.pb.h"

namespace {

namespace json = boost::json;
using quantclaw_test::LlamaServer;
using quantclaw_test::TierJson;

using Tiers = quantclaw_test::RealTiers;
Tiers* tiers = nullptr;

uint64_t Counter(quantclaw::Router& router, std::atomic<uint64_t> quantclaw::RouterMetrics::*counter) {
  return (router.metrics().*counter).load();
}

TEST(ShadowRealTiers, KlOfQ4IsAboveKlOfQ8AndTracesReadBack) {
  const std::string trace_dir = ::testing::TempDir() + "/quantclaw-shadow-" + std::to_string(getpid());
  std::filesystem::remove_all(trace_dir);
  const std::string config = R"({"tiers":[)" + TierJson("q4_0", "q4_0", tiers->q4_0->base_url()) + "," +
                             TierJson("q8_0", "q8_0", tiers->q8_0->base_url()) + "," +
                             TierJson("f16", "fp16", tiers->f16->base_url()) +
                             R"(],"shadow":{"rate":1,"top_logprobs":20,"action_tokens":16,"kl_threshold":0.05,)"
                             R"("trace_path":")" + trace_dir + R"("}})";
  auto created = quantclaw::Router::Create(config);
  ASSERT_TRUE(created.ok()) << created.status();
  quantclaw::Router& router = **created;

  const char* kPrompts[] = {"Hello there, how are you?",
                            "List three colours.",
                            "What is 17 times 23? Show the table of numbers 1 2 3 4 5.",
                            "Write a JSON object with keys name and age.",
                            "Search the web for the weather in Paris.",
                            "Tell me a short story about a cat."};
  int calls = 0;
  for (const char* served_on : {"q8_0", "f16", "q4_0"}) {
    for (const char* prompt : kPrompts) {
      json::object request{
          {"session_id", std::string("shadow-") + served_on + "-" + std::to_string(calls)},
          {"hints", json::object{{"force_tier", served_on}}},
          {"body", json::object{{"model", "auto"},
                                {"max_tokens", 16},
                                {"temperature", 0},
                                {"messages", json::array{json::object{{"role", "system"}, {"content", "You are an agent."}},
                                                         json::object{{"role", "user"}, {"content", prompt}}}}}}};
      quantclaw::CompletionCall call;
      ASSERT_TRUE(quantclaw::DecodeCompletionCall(json::serialize(request), true, &call).ok());
      std::string response;
      quantclaw::Choice choice;
      absl::Status status = router.Complete(call, nullptr, &response, &choice);
      ASSERT_TRUE(status.ok()) << status;
      ++calls;
    }
  }
  // The host got its answers; the shadow worker catches up on its own.
  using quantclaw::RouterMetrics;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (Counter(router, &RouterMetrics::shadow_scored) + Counter(router, &RouterMetrics::shadow_failed) +
             Counter(router, &RouterMetrics::shadow_dropped) <
         Counter(router, &RouterMetrics::shadow_sampled)) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << router.MetricsText();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string metrics = router.MetricsText();
  EXPECT_EQ(Counter(router, &RouterMetrics::shadow_sampled), uint64_t(calls)) << metrics;
  EXPECT_EQ(Counter(router, &RouterMetrics::shadow_failed), 0u) << metrics;
  EXPECT_EQ(Counter(router, &RouterMetrics::shadow_dropped), 0u) << metrics;
  EXPECT_EQ(Counter(router, &RouterMetrics::trace_records_written), uint64_t(calls)) << metrics;
  EXPECT_NE(metrics.find("quantclaw_trace_records_written_total " + std::to_string(calls)), std::string::npos);

  auto files = quantclaw::ListTraceFiles(trace_dir);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_FALSE(files->empty());
  std::map<std::string, std::vector<double>> kl_by_low_tier;
  int records = 0;
  for (const std::string& file : *files) {
    auto reader = quantclaw::TraceReader::Open(file);
    ASSERT_TRUE(reader.ok()) << reader.status();
    quantclaw::v1::TraceRecord record;
    while (reader->Next(&record)) {
      ++records;
      ASSERT_TRUE(record.has_kl_divergence());
      EXPECT_TRUE(std::isfinite(record.kl_divergence()));
      EXPECT_EQ(record.needs_high_precision(), record.kl_divergence() >= 0.05);
      EXPECT_EQ(record.reference_tier(), "f16");
      // At most action_tokens; fewer when the action ended early or retokenises into fewer tokens.
      EXPECT_GE(record.scored_tokens(), 1u);
      EXPECT_LE(record.scored_tokens(), 16u);
      // The low tier is the one that served, or the ladder's lowest when the reference served.
      const std::string& served = record.outcome().tier_name();
      EXPECT_EQ(record.low_tier(), served == "f16" ? "q4_0" : served);
      EXPECT_EQ(record.decision().tier_name(), served);
      EXPECT_EQ(record.features().step_index(), record.step_index());
      EXPECT_GT(record.features().context_tokens(), 0u);
      EXPECT_EQ(record.features().text_hash_size(), 64);
      EXPECT_GT(record.outcome().output_tokens(), 0u);
      EXPECT_GT(record.unix_ms(), 0);
      kl_by_low_tier[record.low_tier()].push_back(record.kl_divergence());
    }
    EXPECT_TRUE(reader->warnings().empty());
  }
  EXPECT_EQ(records, calls);
  auto mean = [](const std::vector<double>& values) {
    double sum = 0;
    for (double value : values) sum += value;
    return values.empty() ? 0.0 : sum / double(values.size());
  };
  const std::vector<double>& q4 = kl_by_low_tier["q4_0"];
  const std::vector<double>& q8 = kl_by_low_tier["q8_0"];
  ASSERT_EQ(q4.size(), 2 * std::size(kPrompts));
  ASSERT_EQ(q8.size(), std::size(kPrompts));
  for (double kl : q4) EXPECT_GT(kl, 0.0);
  std::printf("mean KL(f16 || q4_0) = %.6f nats over %zu steps; mean KL(f16 || q8_0) = %.6f nats over %zu steps\n",
              mean(q4), q4.size(), mean(q8), q8.size());
  EXPECT_GT(mean(q4), mean(q8));
  EXPECT_GT(mean(q4), 2 * mean(q8));
  std::filesystem::remove_all(trace_dir);
}

// The host's own call, as a host that does not use qc_complete makes it: libcurl, no quantclaw code.
std::string PostJson(const std::string& url, const std::string& body, long* http_status) {
  std::string answer;
  CURL* curl = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 120000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  *http_status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, http_status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return answer;
}

TEST(ShadowRealTiers, HostMakingItsOwnCallsReportsSampledStepsAndGetsKlTraces) {
  // qc_on_step, qc_choose_precision, the host's own POST to the chosen tier, qc_report_outcome with the
  // request and the response when the decision says the step is shadow-sampled (rate 1: every step).
  const std::string trace_dir = ::testing::TempDir() + "/quantclaw-host-shadow-" + std::to_string(getpid());
  std::filesystem::remove_all(trace_dir);
  const std::string config = R"({"tiers":[)" + TierJson("q4_0", "q4_0", tiers->q4_0->base_url()) + "," +
                             TierJson("f16", "fp16", tiers->f16->base_url()) +
                             R"(],"shadow":{"rate":1,"top_logprobs":20,"action_tokens":16,"trace_path":")" +
                             trace_dir + R"("}})";
  auto created = quantclaw::Router::Create(config);
  ASSERT_TRUE(created.ok()) << created.status();
  quantclaw::Router& router = **created;
  const char* kPrompts[] = {"What is 17 times 23?", "Write a JSON object with keys name and age.",
                            "Tell me a short story about a cat."};
  uint64_t step_index = 0;
  std::vector<std::string> served_on;
  for (const char* prompt : kPrompts) {
    ++step_index;
    quantclaw::v1::Step step;
    step.set_session_id("own-calls");
    step.set_step_index(step_index);
    quantclaw::v1::ChatMessage* message = step.add_messages();
    message->set_role("user");
    message->mutable_content()->set_string_value(prompt);
    if (step_index == 2) step.mutable_hints()->set_force_tier("q4_0");  // one step served low, the others on f16
    ASSERT_TRUE(router.OnStep(step).ok());
    quantclaw::Choice choice;
    ASSERT_TRUE(router.Choose("own-calls", &choice).ok());
    served_on.push_back(choice.tier_name);
    ASSERT_TRUE(choice.decision.flags & quantclaw::kDecisionShadowSampled);
    const std::string tier = choice.tier_name;
    const std::string base_url = tier == "f16" ? tiers->f16->base_url() : tiers->q4_0->base_url();
    // Only this step's message: the session's features carry the rest, the request is the host's own.
    const std::string body = json::serialize(json::object{
        {"model", tier},
        {"max_tokens", 16},
        {"temperature", 0},
        {"messages", json::array{json::object{{"role", "user"}, {"content", prompt}}}}});
    long http_status = 0;
    const auto begin = std::chrono::steady_clock::now();
    const std::string response = PostJson(base_url + "/chat/completions", body, &http_status);
    ASSERT_EQ(http_status, 200) << response;
    quantclaw::v1::Outcome outcome;
    outcome.set_session_id("own-calls");
    outcome.set_step_index(step_index);
    outcome.set_tier_name(tier);
    outcome.set_status(quantclaw::v1::OUTCOME_STATUS_OK);
    outcome.set_http_status(200);
    outcome.set_latency_ms(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count());
    outcome.set_request_json(body);
    outcome.set_response_json(response);
    ASSERT_TRUE(router.ReportOutcome(outcome).ok());
  }
  ASSERT_TRUE(router.WaitShadowIdle(std::chrono::minutes(5))) << router.MetricsText();
  using quantclaw::RouterMetrics;
  const std::string metrics = router.MetricsText();
  EXPECT_EQ(Counter(router, &RouterMetrics::shadow_sampled), std::size(kPrompts)) << metrics;
  EXPECT_EQ(Counter(router, &RouterMetrics::shadow_failed), 0u) << metrics;
  EXPECT_EQ(Counter(router, &RouterMetrics::shadow_missing_request), 0u) << metrics;
  EXPECT_EQ(Counter(router, &RouterMetrics::trace_records_written), std::size(kPrompts)) << metrics;

  auto files = quantclaw::ListTraceFiles(trace_dir);
  ASSERT_TRUE(files.ok()) << files.status();
  std::vector<uint64_t> steps;
  for (const std::string& file : *files) {
    auto reader = quantclaw::TraceReader::Open(file);
    ASSERT_TRUE(reader.ok()) << reader.status();
    quantclaw::v1::TraceRecord record;
    while (reader->Next(&record)) {
      steps.push_back(record.step_index());
      EXPECT_EQ(record.session_id(), "own-calls");
      EXPECT_TRUE(record.decision().shadow_sampled());
      EXPECT_EQ(record.features().step_index(), record.step_index());
      EXPECT_GT(record.features().context_tokens(), 0u);
      EXPECT_EQ(record.reference_tier(), "f16");
      EXPECT_EQ(record.low_tier(), "q4_0");
      EXPECT_EQ(record.outcome().http_status(), 200u);
      EXPECT_EQ(record.outcome().tier_name(), served_on[record.step_index() - 1]);
      EXPECT_EQ(record.decision().tier_name(), served_on[record.step_index() - 1]);
      EXPECT_TRUE(record.outcome().request_json().empty());
      EXPECT_GE(record.scored_tokens(), 1u);
      EXPECT_TRUE(std::isfinite(record.kl_divergence()));
      EXPECT_GE(record.kl_divergence(), 0.0);
      std::printf("own call, step %llu served on %s: KL(f16 || q4_0) = %.6f nats over %u tokens\n",
                  static_cast<unsigned long long>(record.step_index()), record.outcome().tier_name().c_str(),
                  record.kl_divergence(), record.scored_tokens());
    }
  }
  EXPECT_EQ(steps, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(served_on[1], "q4_0");
  std::filesystem::remove_all(trace_dir);
}

}  // namespace

int main(int argc, char** argv) { return quantclaw_test::RunWithRealTiers(argc, argv, QC_TIERS_SCRIPT, &tiers); }
