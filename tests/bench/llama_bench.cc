// qc_complete against a direct libcurl request of the same body to the same real llama-server (the
// q4_0 tier, 128-token completions), streaming and not, in pairs (paired.h). Skipped with a message
// when llama-server and the tiny model cannot be built here.
#include <memory>
#include <string>

#include <benchmark/benchmark.h>

#include "../tiers/llama_tiers.h"
#include "paired.h"

namespace {

struct LlamaTier {
  std::unique_ptr<quantclaw_test::LlamaServer> server;
  std::string error;
};

// Started on first use, stopped (and its log removed) when the benchmark exits.
const LlamaTier& Tier() {
  static const LlamaTier tier = [] {
    LlamaTier started;
    quantclaw_test::LlamaPaths paths = quantclaw_test::FindLlama(QC_TIERS_SCRIPT);
    if (!paths.error.empty()) {
      started.error = paths.error;
      return started;
    }
    started.server = std::make_unique<quantclaw_test::LlamaServer>(paths.server, paths.models + "/tiny-q4_0.gguf",
                                                                    "tiny-q4_0");
    if (!started.server->Start()) started.error = started.server->error();
    return started;
  }();
  return tier;
}

// 128 tokens every time: ignore_eos keeps the tiny model from stopping early (a llama-server option; it
// goes to the server unchanged either way).
std::string Body(bool stream) {
  return std::string(R"({"model":"tiny-q4_0","stream":)") + (stream ? "true" : "false") +
         R"(,"max_tokens":128,"ignore_eos":true,"temperature":0,"messages":[{"role":"system","content":"You are an agent."},)"
         R"({"role":"user","content":"Summarise the quarterly report in one paragraph."}]})";
}

void QcCompleteVsDirectLlama(benchmark::State& state) {
  const LlamaTier& tier = Tier();
  if (tier.server == nullptr || !tier.error.empty()) {
    state.SkipWithError(("llama-server unavailable: " + tier.error).c_str());
    return;
  }
  const bool stream = state.range(0) != 0;
  quantclaw_bench::CompareWithDirectCurl(state, tier.server->base_url(), "tiny-q4_0", Body(stream), stream);
}
BENCHMARK(QcCompleteVsDirectLlama)->Arg(0)->Arg(1)->Iterations(200)->Unit(benchmark::kMillisecond);

}  // namespace
