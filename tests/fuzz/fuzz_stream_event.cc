// Differential fuzz target: a stream of chunk events (one per input line) folded by StreamAggregator's
// fast path (ChunkReader) and by its document path must give the same statuses, the same held-back
// tool-call flags and the same response, whatever the bytes. Any difference aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "backend/completion.h"

namespace {

std::string Fold(const std::vector<std::string_view>& events, bool chat, bool fast) {
  quantclaw::StreamAggregator aggregator(chat, fast);
  std::string trace;
  for (std::string_view event : events) {
    trace += aggregator.Add(event).ToString();
    trace += aggregator.last_had_tool_calls() ? " held\n" : "\n";
  }
  const quantclaw::Usage& usage = aggregator.usage();
  trace += std::to_string(usage.prompt_tokens) + " " + std::to_string(usage.completion_tokens) + " " +
           std::to_string(usage.cached_tokens) + " " + std::to_string(aggregator.events()) + "\n";
  return trace + aggregator.Finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> events;
  while (!input.empty() && events.size() < 64) {
    const size_t newline = input.find('\n');
    events.push_back(input.substr(0, newline));
    if (newline == std::string_view::npos) break;
    input.remove_prefix(newline + 1);
  }
  for (bool chat : {true, false}) {
    const std::string fast = Fold(events, chat, true);
    const std::string document = Fold(events, chat, false);
    if (fast != document) {
      std::fprintf(stderr, "the fast path and the document path differ (chat=%d)\n--- fast\n%s\n--- document\n%s\n",
                   chat, fast.c_str(), document.c_str());
      std::abort();
    }
  }
  return 0;
}
