// OpenAI-compatible completions: turning a host's request into the tier's, and a stream of
// chat.completion.chunk events back into one response (assistant message, tool calls, usage, logprobs).
#ifndef QUANTCLAW_PLUGIN_BACKEND_COMPLETION_H_
#define QUANTCLAW_PLUGIN_BACKEND_COMPLETION_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>

#include "absl/status/status.h"
#include "backend/chunk_reader.h"

namespace quantclaw {

struct Usage {
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  uint64_t cached_tokens = 0;  // usage.prompt_tokens_details.cached_tokens
};

// Reads usage from a response or a final chunk; servers omit parts of it, which stay 0.
Usage ReadUsage(const boost::json::value& response);

// Folds streamed chunks into the response a non-streaming call would have returned.
class StreamAggregator {
 public:
  // `read_plain_events_fast`: plain content events skip the JSON document (ChunkReader). Off, every
  // event goes through the document path, the reference the fast one is tested against.
  explicit StreamAggregator(bool chat, bool read_plain_events_fast = true)
      : chat_(chat), read_plain_events_fast_(read_plain_events_fast) {}

  // One SSE event's data. An event that is not a JSON object is an error (a broken server), and so is
  // one with a top-level "error" that is not null: the server reporting a failure mid-stream (vLLM,
  // SGLang and sse-starlette send {"error": {"message": ..., "type": ..., "code": 400}} and then
  // [DONE]). Both are DataLoss; server_error() tells the second apart.
  absl::Status Add(std::string_view event);
  // The response a non-streaming call would have returned, as a document and as text.
  boost::json::value Response() const;
  std::string Finish() const;
  const Usage& usage() const { return usage_; }
  size_t events() const { return events_; }
  // Whether the answer's end was seen: a finish_reason on choice 0 ("stop", "length", "tool_calls"...).
  bool finished() const { return !finish_reason_.empty(); }
  // Whether the event just added carried tool-call deltas (they may be held back until validated).
  bool last_had_tool_calls() const { return last_had_tool_calls_; }
  // Whether Add refused an event because the server reported an error in it, and the HTTP-like code
  // the error carried (0: none or not a number).
  bool server_error() const { return server_error_; }
  int64_t server_error_code() const { return server_error_code_; }

 private:
  void AddPlain(const ChunkFields& fields);
  absl::Status ServerError(const boost::json::value& error);

  bool chat_;
  bool read_plain_events_fast_;
  ChunkReader reader_;
  // One parser for the whole stream: its working stack is allocated once, not per event.
  boost::json::parser parser_;
  size_t events_ = 0;
  bool last_had_tool_calls_ = false;
  bool server_error_ = false;
  int64_t server_error_code_ = 0;
  std::string id_, model_, role_ = "assistant", finish_reason_;
  std::string content_;
  std::string reasoning_content_, reasoning_;  // the two names servers use, kept apart (chunk_reader.h)
  boost::json::array logprobs_;  // chat: choices[0].logprobs.content items, in order
  bool have_logprobs_ = false;
  boost::json::object completion_logprobs_;  // legacy completions: arrays concatenated per key
  struct ToolCall {
    std::string id, type = "function", name, arguments;
  };
  std::map<int64_t, ToolCall> tool_calls_;  // by the delta's index
  Usage usage_;
  bool have_usage_ = false;
  int64_t created_ = 0;
};

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_BACKEND_COMPLETION_H_
