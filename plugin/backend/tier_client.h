// One call to one tier: the host's OpenAI request rewritten for the tier (its model, its URL, its key,
// streaming as the host asked), sent, streamed back event by event and folded into one response.
#ifndef QUANTCLAW_PLUGIN_BACKEND_TIER_CLIENT_H_
#define QUANTCLAW_PLUGIN_BACKEND_TIER_CLIENT_H_

#include <cstddef>
#include <string>

#include <boost/json/value.hpp>

#include "absl/status/status.h"
#include "backend/backend_config.h"
#include "backend/completion.h"
#include "backend/http_client.h"
#include "config/config.h"
#include "messages/completion_request.h"

namespace quantclaw {

// One call to one tier: the response document, usage and timing, or why not.
struct TierCallResult {
  boost::json::value document;
  Usage usage;
  double latency_ms = 0;
  double first_byte_ms = 0;
  bool retryable = false;  // the failure may pass on another try (connection, timeout, 5xx, 429)
  long new_connections = 0;  // what the HTTP request cost in connections (0: one was reused)
  bool http2 = false;
  std::string invalid_tool_call;  // why the tool call was held back and not passed on (escalation)
};

// What a call carries besides the host's request, set by a KV hand-off (backend/handoff.h).
struct TierCallExtras {
  // vLLM disaggregated prefill: the prefill answer's kv_transfer_params, sent only to the tier named
  // `kv_transfer_tier` (a failover to another tier goes without them: that tier holds no such transfer).
  const boost::json::object* kv_transfer_params = nullptr;
  std::string_view kv_transfer_tier;
  std::string_view request_id;  // X-Request-Id, one for both hops of a split as vLLM's proxies send it
};

// The llama-server slot a session's calls to a llama_slots tier are pinned to (`id_slot`), so that a
// hand-off knows which slot holds the session's cache. Sessions spread over the server's slots by a hash
// of their id; two that share one take turns, as they would share an unpinned server's slots.
uint32_t SessionSlot(const TierConfig& tier, std::string_view session_id);

// Calls `tier`. Streamed events go to `on_event` (null: not streaming) as they arrive and are counted
// in `*delivered`; with `hold_tool_calls`, tool-call events are held back until the whole tool call
// checks out, so that a broken one can go to a higher tier before the host sees any of it (then
// `result->invalid_tool_call` says why and the status is OK). Status codes: those of HttpClient::Post,
// DataLoss for an HTTP error, a broken stream or a body that is not a JSON object; each message names
// the tier. A stream ends at its [DONE]: nothing after it reaches `on_event`. An event in which the
// server reports an error ({"error": ...}, as vLLM and SGLang send one mid-generation before [DONE])
// fails the call with DataLoss and the server's message (retryable, as an HTTP error, unless its code
// is a 4xx other than 429); the error event itself is not passed to `on_event`: it is no content, and
// the host learns of it from the status (events passed before it stay passed).
absl::Status CallTier(HttpClient& http_client, const TierConfig& tier, const BackendConfig& backend,
                      const CompletionCall& call, const SseSink* on_event, bool hold_tool_calls, size_t* delivered,
                      TierCallResult* result, const TierCallExtras* extras = nullptr);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_BACKEND_TIER_CLIENT_H_
