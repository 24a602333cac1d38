// qc_complete against a direct libcurl request of the same body to the same server, measured in pairs:
// each iteration makes one direct call and one qc_complete call, in alternating order, so that drift in
// the server's speed or the machine's load falls on both alike. Counters (medians over the iterations):
//   direct_us, quantclaw_us   the two calls, wall time
//   overhead_us               median of the per-pair differences: what quantclaw adds to a call
//   ratio                     quantclaw_us / direct_us
//   direct_resends            direct calls sent twice (a connection the server had just closed)
#ifndef QUANTCLAW_TESTS_BENCH_PAIRED_H_
#define QUANTCLAW_TESTS_BENCH_PAIRED_H_

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "quantclaw/quantclaw.h"

namespace quantclaw_bench {

inline double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
  return values[values.size() / 2];
}

inline size_t DiscardBody(char*, size_t size, size_t count, void*) { return size * count; }
inline int32_t IgnoreChunk(void*, const uint8_t*, size_t) { return 0; }

// `base_url` ends in /v1; `model` is what the server serves; `body` is the chat request (its "stream"
// says whether the call streams).
inline void CompareWithDirectCurl(benchmark::State& state, const std::string& base_url, const std::string& model,
                                  const std::string& body, bool stream) {
  using Clock = std::chrono::steady_clock;
  const std::string url = base_url + "/chat/completions";
  // The direct client: one easy handle reused with keep-alive, what a host's own client costs.
  CURL* curl = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &DiscardBody);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);

  const std::string config =
      R"({"tiers":[{"name":"t","format":"bf16","model":")" + model + R"(","base_url":")" + base_url + R"("}]})";
  qc_router* router = nullptr;
  if (qc_router_new(config.data(), config.size(), &router) != QC_OK) {
    state.SkipWithError(qc_last_error());
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
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
  direct();  // warm: the connections, the server's prompt cache
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

}  // namespace quantclaw_bench

#endif  // QUANTCLAW_TESTS_BENCH_PAIRED_H_
