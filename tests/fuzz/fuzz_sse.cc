// Differential fuzz target for SseParser (backend/http_client.h): a stream must give the same events
// whether it arrives whole, byte by byte, or in the chunks the input's first bytes describe, and the
// same as a plain reading of the standard written out below; a receiver that cancels at the k-th event
// gets exactly the first k. No event is larger than the stream, and the parser never holds more than it
// was fed. Any difference aborts.
//
// Input: byte 0 gives n (1..8); the next n bytes are chunk sizes (0..63, used in turn; 0 is an empty
// read) and byte n+1 the event to cancel at; the rest is the stream.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "backend/http_client.h"

namespace {

using Events = std::vector<std::string>;

// "Parsing an event stream" from the HTML standard, for the data field only, on the whole stream at
// once: the reference the parser is held to.
Events Reference(std::string_view stream) {
  if (stream.substr(0, 3) == "\xEF\xBB\xBF") stream.remove_prefix(3);
  Events events;
  std::string data;
  bool has_data = false;
  while (true) {
    const size_t eol = stream.find_first_of("\r\n");
    if (eol == std::string_view::npos) break;  // a line without its end is never processed
    const std::string_view line = stream.substr(0, eol);
    size_t next = eol + 1;
    if (stream[eol] == '\r' && next < stream.size() && stream[next] == '\n') ++next;
    stream.remove_prefix(next);
    if (line.empty()) {
      if (has_data) events.push_back(data);
      data.clear();
      has_data = false;
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == 0) continue;  // a comment
    const std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field != "data") continue;
    if (has_data) data.push_back('\n');
    data.append(value);
    has_data = true;
  }
  return events;
}

void Fail(const char* what, const Events& expected, const Events& got) {
  std::fprintf(stderr, "%s: expected %zu events, got %zu\n", what, expected.size(), got.size());
  for (size_t i = 0; i < expected.size() || i < got.size(); ++i) {
    std::fprintf(stderr, "  %zu: [%s] vs [%s]\n", i, i < expected.size() ? expected[i].c_str() : "-",
                 i < got.size() ? got[i].c_str() : "-");
  }
  std::abort();
}

// Feeds `stream` in chunks of the sizes given, in turn; cancels at event `cancel_at` (none when
// negative). An empty size list feeds it whole.
Events Parse(std::string_view stream, const std::vector<size_t>& sizes, long cancel_at) {
  quantclaw::SseParser parser;
  Events events;
  bool cancelled = false;
  const auto on_event = [&](std::string_view data) {
    if (data.size() > stream.size()) {
      std::fprintf(stderr, "an event of %zu bytes from a stream of %zu\n", data.size(), stream.size());
      std::abort();
    }
    events.emplace_back(data);
    cancelled = cancel_at >= 0 && static_cast<long>(events.size()) > cancel_at;
    return !cancelled;
  };
  size_t fed = 0;
  size_t turn = 0;
  while (fed < stream.size()) {
    const size_t size = sizes.empty() ? stream.size() : std::min(sizes[turn++ % sizes.size()], stream.size() - fed);
    const bool keep_going = parser.Feed(stream.substr(fed, size), on_event);
    fed += size;
    if (keep_going == cancelled) {
      std::fprintf(stderr, "Feed returned %d after the receiver %s\n", keep_going, cancelled ? "cancelled" : "did not");
      std::abort();
    }
    if (parser.buffered() > fed) {
      std::fprintf(stderr, "the parser holds %zu bytes after %zu fed\n", parser.buffered(), fed);
      std::abort();
    }
  }
  if (cancelled && parser.Feed("\n\ndata: more\n\n", on_event)) {
    std::fprintf(stderr, "Feed went on after a cancel\n");
    std::abort();
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 1 << 16) return 0;
  const size_t count = 1 + data[0] % 8;
  if (size < 2 + count) return 0;
  std::vector<size_t> sizes;
  bool any = false;
  for (size_t i = 0; i < count; ++i) {
    sizes.push_back(data[1 + i] % 64);
    any |= sizes.back() != 0;
  }
  if (!any) sizes.back() = 1;  // some read must make progress
  const long cancel_at = data[1 + count] % 16;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2 + count, size - 2 - count);

  const Events expected = Reference(stream);
  const std::vector<std::vector<size_t>> chunkings = {{}, {1}, sizes};
  for (const std::vector<size_t>& chunking : chunkings) {
    const Events got = Parse(stream, chunking, -1);
    if (got != expected) Fail("the parser differs from the reference", expected, got);
    const Events cut = Parse(stream, chunking, cancel_at);
    const Events first(expected.begin(), expected.begin() + std::min<long>(cancel_at + 1, long(expected.size())));
    if (cut != first) Fail("a cancelled parse differs from the first events", first, cut);
  }
  return 0;
}
