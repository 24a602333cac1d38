// One streamed chat.completion.chunk folded into the aggregate, by the two paths StreamAggregator has:
//   StreamEvent/document   a JSON document built per event (the reference path)
//   StreamEvent/fast       ChunkReader: the fields read in one pass, no document
//   StreamEventCjk/...     the same with a Chinese token, which the fast path checks as UTF-8 byte by byte
// Side by side in one run; the ratio is what the fast path saves per event of every streamed call.
//   SseParse/lf, SseParse/crlf   SseParser splitting a 128-event stream read 4 KiB at a time, per event
#include <string>
#include <string_view>

#include <benchmark/benchmark.h>

#include "backend/completion.h"
#include "backend/http_client.h"

namespace {

// What llama-server sends per token (vLLM's chunks have the same fields, in a different order).
const std::string kEvent =
    R"({"choices":[{"finish_reason":null,"index":0,"delta":{"content":" the"}}],"created":1763916000,)"
    R"("id":"chatcmpl-PXqE3Qn8kR2vM4bT7yW1zA6cD9fG0hJ","model":"tiny-f16","system_fingerprint":"b6000-de3ff815",)"
    R"("object":"chat.completion.chunk"})";

// llama-server writes non-ASCII text as raw UTF-8, not as \u escapes.
const std::string kCjkEvent =
    R"({"choices":[{"finish_reason":null,"index":0,"delta":{"content":"，这是一个测试"}}],"created":1763916000,)"
    R"("id":"chatcmpl-PXqE3Qn8kR2vM4bT7yW1zA6cD9fG0hJ","model":"tiny-f16","system_fingerprint":"b6000-de3ff815",)"
    R"("object":"chat.completion.chunk"})";

void AddEvents(benchmark::State& state, const std::string& event) {
  const bool fast = state.range(0) != 0;
  quantclaw::StreamAggregator aggregator(/*chat=*/true, fast);
  for (auto _ : state) {
    if (!aggregator.Add(event).ok()) state.SkipWithError("event refused");
  }
  benchmark::DoNotOptimize(aggregator.events());
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(event.size()));
  state.SetLabel(fast ? "fast" : "document");
}

void StreamEvent(benchmark::State& state) { AddEvents(state, kEvent); }
void StreamEventCjk(benchmark::State& state) { AddEvents(state, kCjkEvent); }
BENCHMARK(StreamEvent)->Arg(0)->Arg(1);
BENCHMARK(StreamEventCjk)->Arg(0)->Arg(1);

void SseParse(benchmark::State& state) {
  const std::string end = state.range(0) != 0 ? "\r\n" : "\n";
  std::string stream;
  constexpr int kEvents = 128;
  for (int i = 0; i < kEvents; ++i) stream += "data: " + kEvent + end + end;
  size_t bytes = 0;
  for (auto _ : state) {
    quantclaw::SseParser parser;
    for (size_t at = 0; at < stream.size(); at += 4096) {
      parser.Feed(std::string_view(stream).substr(at, 4096), [&bytes](std::string_view data) {
        bytes += data.size();
        return true;
      });
    }
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(int64_t(state.iterations()) * kEvents);
  state.SetLabel(state.range(0) != 0 ? "crlf" : "lf");
}
BENCHMARK(SseParse)->Arg(0)->Arg(1);

}  // namespace
