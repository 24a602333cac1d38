// qc_complete against a direct libcurl request of the same body to the same real llama-server (the
// q4_0 tier, 128-token completions), streaming and not. Measured in pairs: each iteration makes one
// direct call and one qc_complete call, in alternating order, so that drift in the server's speed
// falls on both alike. Counters (medians over the iterations):
//   direct_us, quantclaw_us   the two calls
//   overhead_us               median of the per-pair differences: what quantclaw adds to a call
//   ratio                     quantclaw_us / direct_us
//   direct_resends            direct calls sent twice (a connection the server had just closed)
// Skipped with a message when llama-server and the tiny model cannot be built here.
#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "../tiers/llama_tiers.h"
#include "quantclaw/quantclaw.h"

namespace {

using Clock = std::chrono::steady_clock;

struct LlamaTier {
  std::unique_ptr<quantclaw_test::LlamaServer> server;
  std::string error;
};

const LlamaTier& Tier() {
  static LlamaTier* tier = [] {
    auto* started = new LlamaTier;
    quantclaw_test::LlamaPaths paths = quantclaw_test::FindLlama(QC_TIERS_SCRIPT);
    if (!paths.error.empty()) {
      started->error = paths.error;
      return started;
    }
    started->server = std::make_unique<quantclaw_test::LlamaServer>(paths.server, paths.models + "/tiny-q4_0.gguf",
                                                                     "tiny-q4_0");
    if (!started->server->Start()) started->error = started->server->error();
    return started;
  }();
  return *tier;
}

// 128 tokens every time: ignore_eos keeps the tiny model from stopping early (a llama-server option; it
// goes to the server unchanged either way).
std::string Body(bool stream) {
  return std::string(R"({"model":"tiny-q4_0","stream":)") + (stream ? "true" : "false") +
         R"(,"max_tokens":128,"ignore_eos":true,"temperature":0,"messages":[{"role":"system","content":"You are an agent."},)"
         R"({"role":"user","content":"Summarise the quarterly report in one paragraph."}]})";
}

size_t Discard(char*, size_t size, size_t count, void*) { return size * count; }

int32_t IgnoreChunk(void*, const uint8_t*, size_t) { return 0; }

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
  return values[values.size() / 2];
}

void QcCompleteVsDirectLlama(benchmark::State& state) {
  const LlamaTier& tier = Tier();
  if (tier.server == nullptr || !tier.error.empty()) {
    state.SkipWithError(("llama-server unavailable: " + tier.error).c_str());
    return;
  }
  const bool stream = state.range(0) != 0;
  const std::string body = Body(stream);
  const std::string url = tier.server->base_url() + "/chat/completions";

  // The direct client: one easy handle reused with keep-alive, what a host's own client costs.
  CURL* curl = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Discard);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);

  const std::string config = R"({"tiers":[{"name":"q4_0","format":"q4_0","model":"tiny-q4_0","base_url":")" +
                             tier.server->base_url() + R"("}]})";
  qc_router* router = nullptr;
  if (qc_router_new(config.data(), config.size(), &router) != QC_OK) {
    state.SkipWithError(qc_last_error());
    return;
  }
  const std::string request = R"({"session_id":"bench","body":)" + body + "}";
  const qc_bytes bytes = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};

  // llama-server closes the connection after a stream; when the close races the next request on the
  // reused connection, the send fails and a client sends again, as libcurl inside quantclaw does.
  int direct_resends = 0;
  auto direct = [&] {
    const auto start = Clock::now();
    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_SEND_ERROR || code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING) {
      ++direct_resends;
      code = curl_easy_perform(curl);
    }
    if (code != CURLE_OK) state.SkipWithError(curl_easy_strerror(code));
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  };
  auto through_quantclaw = [&] {
    const auto start = Clock::now();
    qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
    if (qc_complete(router, &bytes, QC_FORMAT_JSON, stream ? &IgnoreChunk : nullptr, nullptr, &out) != QC_OK) {
      state.SkipWithError(qc_last_error());
    }
    qc_buffer_free(&out);
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  };
  direct();  // warm: the connection, the server's prompt cache
  through_quantclaw();

  std::vector<double> direct_us, quantclaw_us, overhead_us;
  bool quantclaw_first = false;
  for (auto _ : state) {
    double d = 0, q = 0;
    if (quantclaw_first) {
      q = through_quantclaw();
      d = direct();
    } else {
      d = direct();
      q = through_quantclaw();
    }
    quantclaw_first = !quantclaw_first;
    direct_us.push_back(d);
    quantclaw_us.push_back(q);
    overhead_us.push_back(q - d);
  }
  state.counters["direct_us"] = Median(direct_us);
  state.counters["quantclaw_us"] = Median(quantclaw_us);
  state.counters["overhead_us"] = Median(overhead_us);
  state.counters["direct_resends"] = direct_resends;
  state.counters["ratio"] = Median(direct_us) > 0 ? Median(quantclaw_us) / Median(direct_us) : 0;
  qc_router_free(router);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
}
BENCHMARK(QcCompleteVsDirectLlama)->Arg(0)->Arg(1)->Iterations(200)->Unit(benchmark::kMillisecond);

}  // namespace
