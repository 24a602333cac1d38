// qc_complete against a direct libcurl request of the same body to the same server, side by side:
// the overhead quantclaw adds to a call (decoding, the step, the decision, the rewrite, aggregation).
//   DirectCurl/<stream>      one reused easy handle, keep-alive: what a host's own client costs
//   QcComplete/<stream>      the same request through qc_complete
// The server is in-process on loopback (loopback_server.h), 128-token answers; stream 1 = SSE.
#include <curl/curl.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <benchmark/benchmark.h>

#include "loopback_server.h"
#include "quantclaw/quantclaw.h"

namespace {

constexpr int kTokens = 128;

LoopbackServer& Server() {
  static LoopbackServer server(kTokens);
  return server;
}

std::string Body(bool stream) {
  return std::string(R"({"model":"m","stream":)") + (stream ? "true" : "false") +
         R"(,"max_tokens":128,"messages":[{"role":"system","content":"You are an agent."},{"role":"user","content":"Summarise the report in one line."}]})";
}

size_t Discard(char*, size_t size, size_t count, void* received) {
  *static_cast<size_t*>(received) += size * count;
  return size * count;
}

void DirectCurl(benchmark::State& state) {
  const bool stream = state.range(0) != 0;
  std::string url = "http://127.0.0.1:" + std::to_string(Server().port()) + "/v1/chat/completions";
  std::string body = Body(stream);
  CURL* curl = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  size_t received = 0;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Discard);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &received);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  for (auto _ : state) {
    if (curl_easy_perform(curl) != CURLE_OK) std::abort();
  }
  benchmark::DoNotOptimize(received);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
}
BENCHMARK(DirectCurl)->Arg(0)->Arg(1)->UseRealTime();

int32_t CountChunk(void* count, const uint8_t*, size_t) {
  ++*static_cast<size_t*>(count);
  return 0;
}

void QcComplete(benchmark::State& state) {
  const bool stream = state.range(0) != 0;
  std::string base = "http://127.0.0.1:" + std::to_string(Server().port()) + "/v1";
  std::string config = R"({"tiers":[{"name":"bf16","format":"bf16","model":"m","base_url":")" + base + R"("}]})";
  qc_router* router = nullptr;
  if (qc_router_new(config.data(), config.size(), &router) != QC_OK) std::abort();
  std::string request = R"({"session_id":"bench","body":)" + Body(stream) + "}";
  qc_bytes bytes = {reinterpret_cast<const uint8_t*>(request.data()), request.size()};
  size_t chunks = 0;
  for (auto _ : state) {
    qc_buffer out = {sizeof(qc_buffer), 0, nullptr, 0};
    if (qc_complete(router, &bytes, QC_FORMAT_JSON, stream ? &CountChunk : nullptr, &chunks, &out) != QC_OK) {
      std::fprintf(stderr, "%s\n", qc_last_error());
      std::abort();
    }
    qc_buffer_free(&out);
  }
  benchmark::DoNotOptimize(chunks);
  qc_router_free(router);
}
BENCHMARK(QcComplete)->Arg(0)->Arg(1)->UseRealTime();

}  // namespace
