#include "backend/http_client.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <vector>

#include <curl/curl.h>

#include "util/strings.h"

namespace quantclaw {
namespace {

std::once_flag g_curl_initialised;

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

bool SseParser::Feed(std::string_view bytes, const std::function<bool(std::string_view)>& on_event) {
  if (stopped_) return false;
  if (!checked_bom_) {
    // The BOM's bytes may arrive one read at a time: its prefix waits in line_ (a prefix that turns out
    // not to be a BOM is the start of the first line).
    static constexpr std::string_view kBom = "\xEF\xBB\xBF";
    while (!bytes.empty() && !checked_bom_) {
      if (bytes.front() != kBom[line_.size()]) {
        checked_bom_ = true;
        break;
      }
      line_.push_back(bytes.front());
      bytes.remove_prefix(1);
      if (line_.size() == kBom.size()) {
        line_.clear();
        checked_bom_ = true;
      }
    }
  }
  if (after_cr_ && !bytes.empty()) {
    after_cr_ = false;
    if (bytes.front() == '\n') bytes.remove_prefix(1);
  }
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  // The next LF and the next CR, each found with memchr and kept while lines before it are split: a
  // stream whose lines end with LF alone (most servers) costs one scan for its CRs per read, and one
  // ending them with CR alone one scan for its LFs.
  const char* lf = nullptr;
  const char* cr = nullptr;
  bool searched = false;
  while (p != end) {
    if (!searched || (lf != nullptr && lf < p)) {
      lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    }
    if (!searched || (cr != nullptr && cr < p)) {
      cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<size_t>(end - p)));
    }
    searched = true;
    const char* eol = lf == nullptr ? cr : cr == nullptr ? lf : std::min(lf, cr);
    if (eol == nullptr) {
      line_.append(p, static_cast<size_t>(end - p));
      return true;
    }
    std::string_view line(p, static_cast<size_t>(eol - p));
    p = eol + 1;
    if (*eol == '\r') {
      if (p == end) {
        after_cr_ = true;
      } else if (*p == '\n') {
        ++p;
      }
    }
    if (!line_.empty()) {
      line_.append(line);
      line = line_;
    }
    const bool keep_going = Line(line, on_event);
    line_.clear();
    if (!keep_going) {
      stopped_ = true;
      data_.clear();
      return false;
    }
  }
  return true;
}

bool SseParser::Line(std::string_view line, const std::function<bool(std::string_view)>& on_event) {
  if (line.empty()) {
    if (!has_data_) return true;
    const bool keep_going = on_event(data_);
    data_.clear();
    has_data_ = false;
    return keep_going;
  }
  std::string_view value;
  if (line.size() >= 5 && std::memcmp(line.data(), "data:", 5) == 0) {
    value = line.substr(5);
  } else {
    // A comment (':' first), a line that is only the field's name, or another field.
    if (line != "data") return true;
  }
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (has_data_) data_.push_back('\n');
  data_.append(value);
  has_data_ = true;
  return true;
}

struct HttpClient::Shared {
  CURLSH* share = nullptr;
  std::mutex locks[CURL_LOCK_DATA_LAST];
  // Easy handles are reused between calls (reset, not rebuilt): creating one costs more than a
  // loopback round trip. Pooled here, not per thread, so they all go before the share handle does.
  std::mutex pool_mutex;
  std::vector<CURL*> pool;

  CURL* Acquire() {
    {
      std::lock_guard<std::mutex> lock(pool_mutex);
      if (!pool.empty()) {
        CURL* curl = pool.back();
        pool.pop_back();
        return curl;
      }
    }
    return curl_easy_init();
  }
  void Release(CURL* curl) {
    curl_easy_reset(curl);
    std::lock_guard<std::mutex> lock(pool_mutex);
    if (pool.size() < 64) {
      pool.push_back(curl);
      return;
    }
    curl_easy_cleanup(curl);
  }

  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<Shared*>(self)->locks[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* self) { static_cast<Shared*>(self)->locks[data].unlock(); }
};

HttpClient::HttpClient() : shared_(std::make_unique<Shared>()) {
  std::call_once(g_curl_initialised, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  shared_->share = curl_share_init();
  if (shared_->share != nullptr) {
    curl_share_setopt(shared_->share, CURLSHOPT_LOCKFUNC, &Shared::Lock);
    curl_share_setopt(shared_->share, CURLSHOPT_UNLOCKFUNC, &Shared::Unlock);
    curl_share_setopt(shared_->share, CURLSHOPT_USERDATA, shared_.get());
    // Keep-alive connections and DNS answers serve every thread's calls.
    curl_share_setopt(shared_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(shared_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  }
}

HttpClient::~HttpClient() {
  for (CURL* curl : shared_->pool) curl_easy_cleanup(curl);
  if (shared_->share != nullptr) curl_share_cleanup(shared_->share);
}

namespace {

struct Transfer {
  const HttpRequest* request;
  const SseSink* sink;
  HttpResponse* response;
  std::chrono::steady_clock::time_point start;
  bool got_first_byte = false;
  bool streaming = false;  // decided at the first body byte, from the status and content type
  bool decided = false;
  bool cancelled = false;
  bool too_large = false;
  bool stalled = false;
  size_t received = 0;
  SseParser parser;
  CURL* curl = nullptr;
  std::chrono::steady_clock::time_point done_at;  // when [DONE] arrived
};

// How long a stream may stay open after its [DONE] before the transfer is cut: long enough for the
// end of the body that usually follows at once (then the connection is kept for the next call), short
// enough that a server holding the connection open costs the caller nothing it would notice.
constexpr double kAfterDoneGraceMs = 20;

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  // Bytes after [DONE] (more events, padding): the server is not ending the body, so the transfer
  // stops here; the answer is complete and Post returns it as a success.
  if (transfer->response->stream_done) return 0;
  if (!transfer->got_first_byte) {
    transfer->got_first_byte = true;
    transfer->response->first_byte_ms = MillisecondsSince(transfer->start);
  }
  transfer->received += bytes;
  if (transfer->received > transfer->request->max_response_bytes) {
    transfer->too_large = true;
    return 0;  // aborts the transfer
  }
  if (!transfer->decided) {
    transfer->decided = true;
    long status = 0;
    curl_easy_getinfo(transfer->curl, CURLINFO_RESPONSE_CODE, &status);
    const char* type = nullptr;
    curl_easy_getinfo(transfer->curl, CURLINFO_CONTENT_TYPE, &type);
    transfer->streaming = transfer->sink != nullptr && status >= 200 && status < 300 && type != nullptr &&
                          std::string_view(type).find("text/event-stream") != std::string_view::npos;
  }
  if (!transfer->streaming) {
    transfer->response->body.append(data, bytes);
    return bytes;
  }
  bool keep_going = transfer->parser.Feed(std::string_view(data, bytes), [transfer](std::string_view event) {
    if (event == "[DONE]") {
      // OpenAI's terminator: nothing after it is read. The rest of this read is dropped; the transfer
      // goes on only to let the body end cleanly (see kAfterDoneGraceMs).
      transfer->response->stream_done = true;
      transfer->done_at = std::chrono::steady_clock::now();
      return false;
    }
    return (*transfer->sink)(event);
  });
  if (!keep_going && !transfer->response->stream_done) {
    transfer->cancelled = true;
    return 0;
  }
  return bytes;
}

// Aborts a transfer whose server accepted the request but sends nothing within first_byte_ms, and one
// that stays open kAfterDoneGraceMs after its [DONE].
int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* transfer = static_cast<Transfer*>(user);
  if (transfer->response->stream_done) return MillisecondsSince(transfer->done_at) > kAfterDoneGraceMs ? 1 : 0;
  if (!transfer->got_first_byte && MillisecondsSince(transfer->start) > transfer->request->timeouts.first_byte_ms) {
    transfer->stalled = true;
    return 1;
  }
  return 0;
}

}  // namespace

absl::Status HttpClient::Post(const HttpRequest& request, const SseSink* sink, HttpResponse* response) {
  *response = HttpResponse();
  CURL* curl = shared_->Acquire();
  if (curl == nullptr) return absl::InternalError("libcurl could not create a handle");
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, sink != nullptr ? "Accept: text/event-stream" : "Accept: application/json");
  for (const std::string& header : request.headers) headers = curl_slist_append(headers, header.c_str());

  Transfer transfer{&request, sink, response, std::chrono::steady_clock::now()};
  transfer.curl = curl;
  char error_text[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.timeouts.connect_ms));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeouts.total_ms));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // a library must not touch the host's signals
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);
  curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);  // HTTP/2 where TLS offers it
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  // Peer and host verification stay at libcurl's default (on); a tier may name its own CA bundle.
  if (!request.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, request.ca_file.c_str());
  if (shared_->share != nullptr) curl_easy_setopt(curl, CURLOPT_SHARE, shared_->share);

  CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response->status);
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &response->new_connections);
  long http_version = 0;
  curl_easy_getinfo(curl, CURLINFO_HTTP_VERSION, &http_version);
  response->http2 = http_version == CURL_HTTP_VERSION_2_0;
  response->total_ms = MillisecondsSince(transfer.start);
  curl_slist_free_all(headers);
  shared_->Release(curl);

  // After [DONE] the answer is whole, whatever happened to the connection next: cut short on purpose
  // (more bytes, or open past the grace time), reset or timed out.
  if (response->stream_done) return absl::OkStatus();
  if (transfer.cancelled) return absl::CancelledError("the receiver cancelled the stream");
  if (transfer.too_large) {
    return absl::ResourceExhaustedError(StrCat("response over ", request.max_response_bytes, " bytes from ", request.url));
  }
  if (transfer.stalled) {
    return absl::DeadlineExceededError(
        StrCat("no response byte within ", request.timeouts.first_byte_ms, " ms from ", request.url));
  }
  if (code == CURLE_OK) return absl::OkStatus();
  std::string detail = error_text[0] != '\0' ? error_text : curl_easy_strerror(code);
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      response->tls_failed = true;
      return absl::UnavailableError(StrCat("TLS: the server's certificate is not trusted: ", detail, " (",
                                           request.url, "; a private CA goes in the tier's \"ca_file\")"));
    case CURLE_SSL_CACERT_BADFILE:
      response->tls_failed = true;
      return absl::UnavailableError(StrCat("TLS: ", detail, " (", request.url, ")"));
    case CURLE_SSL_CONNECT_ERROR:  // the handshake broke: as a broken connection, it may pass
      return absl::UnavailableError(StrCat("TLS: ", detail, " (", request.url, ")"));
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(StrCat("timed out: ", detail, " (", request.url, ")"));
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return absl::UnavailableError(StrCat(detail, " (", request.url, ")"));
    default:
      return absl::InternalError(StrCat("libcurl: ", detail, " (", request.url, ")"));
  }
}

}  // namespace quantclaw
