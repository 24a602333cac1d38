// HTTP POST to an OpenAI-compatible tier with libcurl: connections reused across calls and threads
// (one share handle), connect / first-byte / total timeouts, a bounded response, Server-Sent Events
// delivered as they arrive, and cancellation by the receiver.
#ifndef QUANTCLAW_PLUGIN_BACKEND_HTTP_CLIENT_H_
#define QUANTCLAW_PLUGIN_BACKEND_HTTP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace quantclaw {

struct HttpTimeouts {
  uint32_t connect_ms = 2000;
  uint32_t first_byte_ms = 60000;  // request sent to first response byte: a stalled server
  uint32_t total_ms = 600000;
};

struct HttpRequest {
  std::string url;
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  HttpTimeouts timeouts;
  size_t max_response_bytes = 16u << 20;
  std::string ca_file;  // PEM CA certificates to verify an https server with; empty: the system's
};

struct HttpResponse {
  long status = 0;
  std::string body;         // the whole body when not streaming; the unparsed tail when streaming
  double first_byte_ms = 0;
  double total_ms = 0;
  bool stream_done = false;  // a "data: [DONE]" event arrived
  long new_connections = 0;  // connections this request had to open (0: it reused a pooled one)
  bool http2 = false;        // answered over HTTP/2
  bool tls_failed = false;   // no trusted TLS connection (certificate, handshake): another try fails alike
};

// One SSE event's data (the lines after "data:" joined by newlines). Returns false to cancel.
// "[DONE]" never reaches it: the stream ends there.
using SseSink = std::function<bool(std::string_view data)>;

// Status codes: Unavailable (could not connect or the connection broke, or no trusted TLS connection:
// the message then starts with "TLS: ", and `tls_failed` is set when another try would fail alike),
// DeadlineExceeded (a timeout),
// Cancelled (the sink returned false), ResourceExhausted (the response outgrew max_response_bytes),
// Internal (libcurl failed otherwise). An HTTP error status is not a failure here: the caller reads it.
class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `sink` null: the body is collected. `sink` set: a 2xx text/event-stream body is parsed as SSE and
  // each event goes to the sink as it arrives; any other body is collected. A "data: [DONE]" event ends
  // the stream: nothing after it is parsed, and Post returns without waiting for the server to close
  // (the transfer is cut when more bytes come, or when the body has not ended shortly after; a body
  // that ends at once leaves its connection reusable). Once [DONE] has arrived the status is OK.
  absl::Status Post(const HttpRequest& request, const SseSink* sink, HttpResponse* response);

 private:
  struct Shared;
  std::unique_ptr<Shared> shared_;
};

// Splits a byte stream into SSE events as the standard parses them
// (https://html.spec.whatwg.org/multipage/server-sent-events.html, "Parsing an event stream"): lines end
// at CR, LF or CRLF (a CRLF split across reads is one line end); one U+FEFF at the very start is
// dropped; a line starting with ':' is a comment; a line without a colon is a field with an empty
// value; one space after the colon is dropped. Only "data" is kept: its lines are joined by "\n" and a
// blank line dispatches them; an event without data lines dispatches nothing; "event", "id", "retry"
// and unknown fields are skipped. Bytes may arrive split anywhere.
class SseParser {
 public:
  // Feeds bytes; calls `on_event` for each complete event; returns false when it returned false (the
  // rest of `bytes` is then dropped, and so is what a later Feed brings).
  bool Feed(std::string_view bytes, const std::function<bool(std::string_view)>& on_event);
  size_t buffered() const { return line_.size() + data_.size(); }

 private:
  // One line, without its line end; false when `on_event` returned false.
  bool Line(std::string_view line, const std::function<bool(std::string_view)>& on_event);

  std::string line_;  // a line (or the start of a BOM) whose end has not arrived yet
  std::string data_;
  bool has_data_ = false;
  bool after_cr_ = false;      // the last read ended with a CR: an LF first in the next one is its CRLF
  bool checked_bom_ = false;   // the first bytes were checked for a BOM
  bool stopped_ = false;       // on_event returned false
};

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_BACKEND_HTTP_CLIENT_H_
