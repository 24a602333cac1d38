// One streamed chat.completion.chunk folded into the aggregate, by the two paths StreamAggregator has:
//   StreamEvent/document   a JSON document built per event (the reference path)
//   StreamEvent/fast       ChunkReader: the fields read in one pass, no document
// Side by side in one run; the ratio is what the fast path saves per event of every streamed call.
#include <string>

#include <benchmark/benchmark.h>

#include "backend/completion.h"

namespace {

// What llama-server sends per token (vLLM's chunks have the same fields, in a different order).
const std::string kEvent =
    R"({"choices":[{"finish_reason":null,"index":0,"delta":{"content":" the"}}],"created":1763916000,)"
    R"("id":"chatcmpl-PXqE3Qn8kR2vM4bT7yW1zA6cD9fG0hJ","model":"tiny-f16","system_fingerprint":"b6000-de3ff815",)"
    R"("object":"chat.completion.chunk"})";

void StreamEvent(benchmark::State& state) {
  const bool fast = state.range(0) != 0;
  quantclaw::StreamAggregator aggregator(/*chat=*/true, fast);
  for (auto _ : state) {
    if (!aggregator.Add(kEvent).ok()) state.SkipWithError("event refused");
  }
  benchmark::DoNotOptimize(aggregator.events());
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kEvent.size()));
  state.SetLabel(fast ? "fast" : "document");
}
BENCHMARK(StreamEvent)->Arg(0)->Arg(1);

}  // namespace
