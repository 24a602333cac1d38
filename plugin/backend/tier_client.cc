#include "backend/tier_client.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include <boost/json.hpp>

#include "backend/tool_calls.h"
#include "util/hash.h"
#include "util/strings.h"
#include "util/url.h"

namespace quantclaw {

namespace {

absl::Status CallTierWithKey(HttpClient& http_client, const TierConfig& tier, const BackendConfig& backend,
                             const CompletionCall& call, const SseSink* on_event, bool hold_tool_calls,
                             size_t* delivered, TierCallResult* result, std::string_view key,
                             const TierCallExtras* extras) {
  const bool streaming = on_event != nullptr;
  boost::json::object body = call.body;
  body["model"] = tier.model;
  if (tier.handoff.kind == HandoffKind::kLlamaSlots) {
    body["id_slot"] = SessionSlot(tier, call.session_id);
    body["cache_prompt"] = true;
  }
  if (extras != nullptr && extras->kv_transfer_params != nullptr && extras->kv_transfer_tier == tier.name) {
    body["kv_transfer_params"] = *extras->kv_transfer_params;
  }
  body["stream"] = streaming;
  if (streaming) {
    body["stream_options"] = boost::json::object{{"include_usage", true}};
  } else {
    body.erase("stream_options");
  }
  HttpRequest request;
  request.url = JoinUrl(tier.base_url, call.chat ? "/chat/completions" : "/completions");
  request.body = boost::json::serialize(body);
  request.timeouts = {backend.connect_timeout_ms, backend.first_byte_timeout_ms,
                      backend.total_timeout_ms};
  request.max_response_bytes = backend.max_response_bytes;
  request.ca_file = tier.ca_file;
  if (!key.empty()) request.headers.push_back(StrCat("Authorization: Bearer ", key));
  if (extras != nullptr && !extras->request_id.empty()) {
    request.headers.push_back(StrCat("X-Request-Id: ", extras->request_id));
  }

  StreamAggregator aggregator(call.chat);
  absl::Status stream_error;
  std::vector<std::string> held;  // tool-call events, passed on once the tool call checks out
  SseSink sink = [&](std::string_view event) {
    stream_error = aggregator.Add(event);
    if (!stream_error.ok()) return false;
    if (hold_tool_calls && (aggregator.last_had_tool_calls() || !held.empty())) {
      held.emplace_back(event);
      return true;
    }
    ++*delivered;
    return (*on_event)(event);
  };
  HttpResponse http;
  absl::Status status = http_client.Post(request, streaming ? &sink : nullptr, &http);
  result->latency_ms = http.total_ms;
  result->first_byte_ms = http.first_byte_ms;
  result->new_connections = http.new_connections;
  result->http2 = http.http2;
  if (!stream_error.ok()) {
    // A server's error event may pass on another try as an HTTP error would: its code says (none: a
    // fault of the server's own, like a 5xx). A broken event will break again.
    if (aggregator.server_error()) {
      const int64_t code = aggregator.server_error_code();
      result->retryable = code == 0 || code >= 500 || code == 429;
    }
    return absl::DataLossError(StrCat("tier ", tier.name, ": ", FromAbsl(stream_error.message())));
  }
  if (!status.ok()) {
    // An untrusted certificate stays untrusted: not retried (failover may still try a higher tier).
    result->retryable = (status.code() == absl::StatusCode::kUnavailable && !http.tls_failed) ||
                        status.code() == absl::StatusCode::kDeadlineExceeded;
    return absl::Status(status.code(), StrCat("tier ", tier.name, ": ", FromAbsl(status.message())));
  }
  if (http.status < 200 || http.status >= 300) {
    // Overload and server faults may pass; a request the server refuses (4xx) will be refused again.
    result->retryable = http.status >= 500 || http.status == 429;
    // The key is cut out before the excerpt is: a cut through it would leave a piece.
    return absl::DataLossError(StrCat("tier ", tier.name, " answered HTTP ", http.status, ": ",
                                      Utf8Excerpt(RedactSecret(http.body, key), 200)));
  }
  if (streaming && aggregator.events() > 0) {
    // A body that ended cleanly without [DONE] is whole when the answer's finish_reason came: some
    // servers never send [DONE] (ik_llama.cpp, llamafile, proxies that drop it), and OpenAI's own clients
    // end at the body's end. Without either, the server died mid-answer.
    if (!http.stream_done && !aggregator.finished()) {
      return absl::DataLossError(StrCat("tier ", tier.name, ": the stream ended before [DONE] and before a ",
                                        "finish_reason, after ", aggregator.events(), " events"));
    }
    result->document = aggregator.Response();
  } else {
    // Not streaming, or a server that answered a stream request with one JSON body.
    boost::system::error_code ec;
    result->document = boost::json::parse(http.body, ec);
    if (ec || !result->document.is_object()) {
      return absl::DataLossError(StrCat("tier ", tier.name, " answered something that is not a JSON object: ",
                                        Utf8Excerpt(RedactSecret(http.body, key), 200)));
    }
  }
  result->usage = ReadUsage(result->document);
  if (hold_tool_calls) {
    if (auto problem = ToolCallProblem(call.body, result->document)) {
      result->invalid_tool_call = *problem;
      return absl::OkStatus();
    }
  }
  for (const std::string& event : held) {
    ++*delivered;
    if (!(*on_event)(event)) return absl::CancelledError("the receiver cancelled the stream");
  }
  return absl::OkStatus();
}

}  // namespace

uint32_t SessionSlot(const TierConfig& tier, std::string_view session_id) {
  return static_cast<uint32_t>(Mix64(Fnv1a(session_id)) % std::max<uint32_t>(1, tier.handoff.slots));
}

absl::Status CallTier(HttpClient& http_client, const TierConfig& tier, const BackendConfig& backend,
                      const CompletionCall& call, const SseSink* on_event, bool hold_tool_calls, size_t* delivered,
                      TierCallResult* result, const TierCallExtras* extras) {
  // Read at call time so a rotated key applies; never logged. A server may echo it back (an error body
  // listing the request's headers), and messages quote the server: the key is cut out of them.
  std::string_view key;
  if (!tier.api_key_env.empty()) {
    if (const char* value = std::getenv(tier.api_key_env.c_str()); value != nullptr) key = value;
  }
  absl::Status status =
      CallTierWithKey(http_client, tier, backend, call, on_event, hold_tool_calls, delivered, result, key, extras);
  if (key.empty()) return status;
  result->invalid_tool_call = RedactSecret(result->invalid_tool_call, key);
  if (status.ok()) return status;
  return absl::Status(status.code(), RedactSecret(FromAbsl(status.message()), key));
}

}  // namespace quantclaw
