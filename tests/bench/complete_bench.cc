// qc_complete against a direct libcurl request of the same body to the same server: the overhead
// quantclaw adds to a call (decoding, the step, the decision, the rewrite, aggregation).
//   QcCompleteVsDirectLoopback/<stream>   in pairs (paired.h) against an in-process loopback server
//                                         (loopback_server.h), 128-token answers; stream 1 = SSE
// The same against a real llama-server is in llama_bench.cc.
#include <string>

#include <benchmark/benchmark.h>

#include "loopback_server.h"
#include "paired.h"

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

// In pairs, alternating: the loopback server answers in microseconds, so scheduling noise between two
// separately timed loops would swamp the difference (paired.h).
void QcCompleteVsDirectLoopback(benchmark::State& state) {
  const bool stream = state.range(0) != 0;
  const std::string base = "http://127.0.0.1:" + std::to_string(Server().port()) + "/v1";
  quantclaw_bench::CompareWithDirectCurl(state, base, "m", Body(stream), stream);
}
BENCHMARK(QcCompleteVsDirectLoopback)->Arg(0)->Arg(1)->Iterations(3000)->Unit(benchmark::kMicrosecond);

}  // namespace
