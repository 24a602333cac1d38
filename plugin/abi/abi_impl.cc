// The C ABI: the only file that knows both the C types of quantclaw.h and the C++ types inside.
// Every entry point validates its arguments, catches every exception and reports through a status
// and this thread's last error, so nothing unwinds into a host.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "messages/messages.h"
#include "util/strings.h"
#include "quantclaw/quantclaw.h"
#include "quantclaw/v1/outcome.pb.h"
#include "quantclaw/v1/step.pb.h"
#include "router/router.h"

static_assert(QC_DECISION_FORCED == quantclaw::kDecisionForced);
static_assert(QC_DECISION_ESCALATED == quantclaw::kDecisionEscalated);
static_assert(QC_DECISION_BUDGET_HELD == quantclaw::kDecisionBudgetHeld);
static_assert(QC_DECISION_DEFAULTED == quantclaw::kDecisionDefaulted);
static_assert(QC_DECISION_PHASE_SPLIT == quantclaw::kDecisionPhaseSplit);
static_assert(QC_DECISION_CACHE_HELD == quantclaw::kDecisionCacheHeld);
static_assert(offsetof(qc_decision, reason) + sizeof(qc_decision{}.reason) == QC_DECISION_SIZE_V1,
              "qc_decision of ABI 1.0 ends with reason");
static_assert(sizeof(qc_buffer) == QC_BUFFER_SIZE_V1, "qc_buffer of ABI 1.0");
static_assert(QC_FORMAT_PROTOBUF == static_cast<uint32_t>(quantclaw::WireFormat::kProtobuf));
static_assert(QC_FORMAT_JSON == static_cast<uint32_t>(quantclaw::WireFormat::kJson));

// A handle outlives its router: freeing marks it dead instead of returning its memory, so a later
// call with a freed handle reads a dead mark (QC_ERR_BAD_HANDLE) rather than reused memory. A handle
// is 16 bytes; hosts create routers rarely.
struct qc_router {
  std::atomic<uint64_t> magic;
  quantclaw::Router* router;
};

namespace {

constexpr uint64_t kLiveMagic = 0x71636c6177524f55ull;  // "qclawROU"
constexpr uint64_t kDeadMagic = 0x71636c6177444541ull;  // "qclawDEA"

thread_local std::string t_last_error;

// Retired handles stay reachable here, so leak checkers see them as held, not lost.
std::mutex g_retired_mutex;
std::vector<qc_router*>* g_retired = new std::vector<qc_router*>();

int32_t Fail(int32_t status, std::string_view message) {
  try {
    t_last_error.assign(message.data(), message.size());
  } catch (...) {
    // Out of memory while reporting: keep the old message rather than throw into the host.
  }
  return status;
}

int32_t FromStatus(const absl::Status& status, int32_t invalid_argument_code = QC_ERR_INVALID_ARGUMENT) {
  if (status.ok()) return QC_OK;
  int32_t code = QC_ERR_INTERNAL;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument: code = invalid_argument_code; break;
    case absl::StatusCode::kNotFound: code = QC_ERR_UNKNOWN_SESSION; break;
    case absl::StatusCode::kFailedPrecondition: code = QC_ERR_OUT_OF_ORDER; break;
    case absl::StatusCode::kResourceExhausted: code = QC_ERR_TOO_LARGE; break;
    // From qc_complete's transport.
    case absl::StatusCode::kUnavailable: code = QC_ERR_UNAVAILABLE; break;
    case absl::StatusCode::kDeadlineExceeded: code = QC_ERR_TIMEOUT; break;
    case absl::StatusCode::kCancelled: code = QC_ERR_CANCELLED; break;
    case absl::StatusCode::kDataLoss: code = QC_ERR_UPSTREAM; break;
    default: break;
  }
  return Fail(code, quantclaw::FromAbsl(status.message()));
}

// Runs `body`, turning any exception into a status: nothing may unwind through a C caller.
template <typename Body>
int32_t Guarded(const char* function, Body&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return Fail(QC_ERR_INTERNAL, std::string(function) + ": out of memory");
  } catch (const std::exception& error) {
    return Fail(QC_ERR_INTERNAL, std::string(function) + ": internal error: " + error.what());
  } catch (...) {
    return Fail(QC_ERR_INTERNAL, std::string(function) + ": internal error");
  }
}

int32_t CheckRouter(const qc_router* handle, const char* function) {
  if (handle == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, std::string(function) + ": router is NULL");
  uint64_t magic = handle->magic.load(std::memory_order_acquire);
  if (magic == kDeadMagic) {
    return Fail(QC_ERR_BAD_HANDLE, std::string(function) + ": router handle was already freed");
  }
  if (magic != kLiveMagic) {
    return Fail(QC_ERR_BAD_HANDLE, std::string(function) + ": not a router handle from qc_router_new");
  }
  return QC_OK;
}

int32_t CheckFormat(uint32_t format, const char* function) {
  if (format == QC_FORMAT_PROTOBUF || format == QC_FORMAT_JSON) return QC_OK;
  return Fail(QC_ERR_INVALID_ARGUMENT, std::string(function) + ": format " + std::to_string(format) +
                                           " is neither QC_FORMAT_PROTOBUF (1) nor QC_FORMAT_JSON (2)");
}

// Checks a message argument and its size against the router's limit; yields its bytes.
int32_t CheckMessage(const qc_router* handle, const qc_bytes* bytes, uint32_t format, const char* function,
                     const char* what, std::string_view* out) {
  if (int32_t status = CheckRouter(handle, function); status != QC_OK) return status;
  if (int32_t status = CheckFormat(format, function); status != QC_OK) return status;
  if (bytes == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, std::string(function) + ": " + what + " is NULL");
  if (bytes->data == nullptr && bytes->size != 0) {
    return Fail(QC_ERR_INVALID_ARGUMENT, std::string(function) + ": " + what + "->data is NULL with size " +
                                             std::to_string(bytes->size));
  }
  uint64_t limit = handle->router->max_message_bytes();
  if (bytes->size > limit) {
    return Fail(QC_ERR_TOO_LARGE, std::string(function) + ": " + what + " is " + std::to_string(bytes->size) +
                                      " bytes, over limits.max_message_bytes (" + std::to_string(limit) + ")");
  }
  *out = bytes->size == 0 ? std::string_view()
                          : std::string_view(reinterpret_cast<const char*>(bytes->data), bytes->size);
  return QC_OK;
}

// Counts a rejected call on a live router, so a host's bad input shows in the metrics.
int32_t Counted(qc_router* handle, int32_t status) {
  if (status != QC_OK && handle != nullptr && handle->magic.load(std::memory_order_acquire) == kLiveMagic) {
    quantclaw::Increment(handle->router->metrics().rejected_calls);
  }
  return status;
}

// Hands text to the host in a library-owned buffer (freed with qc_buffer_free), NUL-terminated.
int32_t GiveBuffer(const std::string& text, qc_buffer* out, const char* function) {
  auto* data = static_cast<uint8_t*>(std::malloc(text.size() + 1));
  if (data == nullptr) return Fail(QC_ERR_INTERNAL, std::string(function) + ": out of memory");
  std::memcpy(data, text.c_str(), text.size() + 1);
  out->data = data;
  out->size = text.size();
  return QC_OK;
}

quantclaw::WireFormat Format(uint32_t format) { return static_cast<quantclaw::WireFormat>(format); }

}  // namespace

extern "C" {

QC_API uint32_t qc_abi_version(void) { return QC_ABI_VERSION; }

QC_API const char* qc_last_error(void) { return t_last_error.c_str(); }

QC_API int32_t qc_router_new(const char* config_json, size_t config_len, qc_router** out_router) {
  return Guarded("qc_router_new", [&]() -> int32_t {
    if (out_router == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_router_new: out_router is NULL");
    *out_router = nullptr;
    if (config_json == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_router_new: config_json is NULL");
    auto router = quantclaw::Router::Create(std::string_view(config_json, config_len));
    if (!router.ok()) return FromStatus(router.status(), QC_ERR_INVALID_CONFIG);
    auto* handle = new qc_router;
    handle->router = router->release();
    handle->magic.store(kLiveMagic, std::memory_order_release);
    *out_router = handle;
    return QC_OK;
  });
}

QC_API int32_t qc_router_free(qc_router* router) {
  return Guarded("qc_router_free", [&]() -> int32_t {
    if (int32_t status = CheckRouter(router, "qc_router_free"); status != QC_OK) return status;
    router->magic.store(kDeadMagic, std::memory_order_release);
    delete router->router;
    router->router = nullptr;
    std::lock_guard<std::mutex> lock(g_retired_mutex);
    g_retired->push_back(router);
    return QC_OK;
  });
}

QC_API int32_t qc_router_reload(qc_router* router, const char* config_json, size_t config_len) {
  return Counted(router, Guarded("qc_router_reload", [&]() -> int32_t {
    if (int32_t status = CheckRouter(router, "qc_router_reload"); status != QC_OK) return status;
    if (config_json == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_router_reload: config_json is NULL");
    return FromStatus(router->router->Reload(std::string_view(config_json, config_len)), QC_ERR_INVALID_CONFIG);
  }));
}

QC_API int32_t qc_on_step(qc_router* router, const qc_bytes* step, uint32_t format) {
  return Counted(router, Guarded("qc_on_step", [&]() -> int32_t {
    std::string_view bytes;
    if (int32_t check = CheckMessage(router, step, format, "qc_on_step", "step", &bytes); check != QC_OK) {
      return check;
    }
    quantclaw::v1::Step message;
    if (int32_t decoded = FromStatus(quantclaw::DecodeMessage(bytes, Format(format), &message), QC_ERR_PARSE);
        decoded != QC_OK) {
      return decoded;
    }
    return FromStatus(router->router->OnStep(message));
  }));
}

QC_API int32_t qc_choose_precision(qc_router* router, const qc_bytes* request, uint32_t format,
                                   qc_decision* out_decision) {
  return Counted(router, Guarded("qc_choose_precision", [&]() -> int32_t {
    std::string_view bytes;
    if (int32_t check = CheckMessage(router, request, format, "qc_choose_precision", "request", &bytes);
        check != QC_OK) {
      return check;
    }
    if (out_decision == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_choose_precision: out_decision is NULL");
    if (out_decision->struct_size < QC_DECISION_SIZE_V1) {
      return Fail(QC_ERR_INVALID_ARGUMENT, "qc_choose_precision: out_decision->struct_size " +
                                               std::to_string(out_decision->struct_size) + " is below " +
                                               std::to_string(QC_DECISION_SIZE_V1) + "; set it to sizeof(qc_decision)");
    }
    thread_local std::string scratch;  // JSON session ids land here; capacity is reused
    std::string_view session_id;
    if (int32_t decoded =
            FromStatus(quantclaw::DecodeDecisionRequest(bytes, Format(format), &scratch, &session_id), QC_ERR_PARSE);
        decoded != QC_OK) {
      return decoded;
    }
    if (session_id.empty()) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_choose_precision: request.session_id is empty");
    quantclaw::Choice choice;
    if (int32_t chosen = FromStatus(router->router->Choose(session_id, &choice)); chosen != QC_OK) return chosen;

    qc_decision decision;
    std::memset(&decision, 0, sizeof(decision));
    decision.struct_size = static_cast<uint32_t>(sizeof(decision));
    decision.tier_index = choice.decision.tier;
    decision.flags = choice.decision.flags;
    decision.prefill_tier_index = choice.decision.prefill_tier;
    decision.step_index = choice.step_index;
    decision.score = choice.decision.score;
    decision.threshold = choice.decision.threshold;
    quantclaw::CopyTruncated(choice.tier_name, decision.tier_name, sizeof(decision.tier_name));
    quantclaw::CopyTruncated(choice.step_kind.view(), decision.step_kind, sizeof(decision.step_kind));
    quantclaw::CopyTruncated(choice.decision.reason, decision.reason, sizeof(decision.reason));
    // Write no more than the caller's struct holds; a newer caller's extra tail stays as it set it.
    size_t size = std::min<size_t>(out_decision->struct_size, sizeof(decision));
    decision.struct_size = static_cast<uint32_t>(size);
    std::memcpy(out_decision, &decision, size);
    return QC_OK;
  }));
}

QC_API int32_t qc_report_outcome(qc_router* router, const qc_bytes* outcome, uint32_t format) {
  return Counted(router, Guarded("qc_report_outcome", [&]() -> int32_t {
    std::string_view bytes;
    if (int32_t check = CheckMessage(router, outcome, format, "qc_report_outcome", "outcome", &bytes);
        check != QC_OK) {
      return check;
    }
    quantclaw::v1::Outcome message;
    if (int32_t decoded = FromStatus(quantclaw::DecodeMessage(bytes, Format(format), &message), QC_ERR_PARSE);
        decoded != QC_OK) {
      return decoded;
    }
    if (message.session_id().empty()) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_report_outcome: outcome.session_id is empty");
    return FromStatus(router->router->ReportOutcome(message));
  }));
}

QC_API int32_t qc_session_end(qc_router* router, const char* session_id, size_t session_id_len) {
  return Counted(router, Guarded("qc_session_end", [&]() -> int32_t {
    if (int32_t status = CheckRouter(router, "qc_session_end"); status != QC_OK) return status;
    if (session_id == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_session_end: session_id is NULL");
    return FromStatus(router->router->EndSession(std::string_view(session_id, session_id_len)));
  }));
}

QC_API int32_t qc_metrics(qc_router* router, qc_buffer* out_text) {
  return Counted(router, Guarded("qc_metrics", [&]() -> int32_t {
    if (int32_t status = CheckRouter(router, "qc_metrics"); status != QC_OK) return status;
    if (out_text == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_metrics: out_text is NULL");
    if (out_text->struct_size < QC_BUFFER_SIZE_V1) {
      return Fail(QC_ERR_INVALID_ARGUMENT, "qc_metrics: out_text->struct_size is below QC_BUFFER_SIZE_V1; set it to sizeof(qc_buffer)");
    }
    return GiveBuffer(router->router->MetricsText(), out_text, "qc_metrics");
  }));
}

QC_API int32_t qc_complete(qc_router* router, const qc_bytes* request, uint32_t format, qc_chunk_fn on_chunk,
                           void* user_data, qc_buffer* out_response) {
  return Counted(router, Guarded("qc_complete", [&]() -> int32_t {
    std::string_view bytes;
    if (int32_t check = CheckMessage(router, request, format, "qc_complete", "request", &bytes); check != QC_OK) {
      return check;
    }
    if (out_response == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_complete: out_response is NULL");
    if (out_response->struct_size < QC_BUFFER_SIZE_V1) {
      return Fail(QC_ERR_INVALID_ARGUMENT,
                  "qc_complete: out_response->struct_size is below QC_BUFFER_SIZE_V1; set it to sizeof(qc_buffer)");
    }
    quantclaw::CompletionCall call;
    if (int32_t decoded = FromStatus(quantclaw::DecodeCompletionCall(bytes, format == QC_FORMAT_JSON, &call), QC_ERR_PARSE);
        decoded != QC_OK) {
      return decoded;
    }
    if (call.session_id.empty()) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_complete: request.session_id is empty");
    // The host's callback may not throw or unwind (it is C); a non-zero return cancels.
    quantclaw::SseSink sink = [on_chunk, user_data](std::string_view event) {
      return on_chunk(user_data, reinterpret_cast<const uint8_t*>(event.data()), event.size()) == 0;
    };
    std::string response;
    quantclaw::Choice choice;
    absl::Status status = router->router->Complete(call, on_chunk != nullptr ? &sink : nullptr, &response, &choice);
    if (!status.ok()) return FromStatus(status);
    return GiveBuffer(response, out_response, "qc_complete");
  }));
}

QC_API void qc_buffer_free(qc_buffer* buffer) {
  if (buffer == nullptr) return;
  std::free(buffer->data);
  buffer->data = nullptr;
  buffer->size = 0;
}

QC_API const qc_plugin* qc_plugin_entry(uint32_t host_abi_major) {
  static const qc_plugin kPlugin = {
      sizeof(qc_plugin),   QC_ABI_VERSION,     qc_abi_version,      qc_router_new,
      qc_router_free,      qc_router_reload,   qc_on_step,          qc_choose_precision,
      qc_report_outcome,   qc_session_end,     qc_metrics,          qc_buffer_free,
      qc_last_error,       qc_complete};
  if (host_abi_major != QC_ABI_VERSION_MAJOR) {
    char message[128];
    std::snprintf(message, sizeof(message), "qc_plugin_entry: host wants ABI major %u, this library implements %d",
                  host_abi_major, QC_ABI_VERSION_MAJOR);
    Fail(QC_ERR_VERSION, message);
    return nullptr;
  }
  return &kPlugin;
}

}  // extern "C"
