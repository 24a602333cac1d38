// The C ABI: the only file that knows both the C types of quantclaw.h and the C++ types inside.
// Every entry point validates its arguments, catches every exception and reports through a status
// and this thread's last error, so nothing unwinds into a host.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <string>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "messages/messages.h"
#include "util/strings.h"
#include "quantclaw/quantclaw.h"
#include "quantclaw/v1/outcome.pb.h"
#include "quantclaw/v1/step.pb.h"
#include "router/router.h"

// Every tier name fits qc_decision.tier_name whole (config refuses longer ones).
static_assert(sizeof(qc_decision::tier_name) == quantclaw::kMaxTierNameBytes + 1);
static_assert(QC_DECISION_FORCED == quantclaw::kDecisionForced);
static_assert(QC_DECISION_ESCALATED == quantclaw::kDecisionEscalated);
static_assert(QC_DECISION_BUDGET_HELD == quantclaw::kDecisionBudgetHeld);
static_assert(QC_DECISION_DEFAULTED == quantclaw::kDecisionDefaulted);
static_assert(QC_DECISION_PHASE_SPLIT == quantclaw::kDecisionPhaseSplit);
static_assert(QC_DECISION_CACHE_HELD == quantclaw::kDecisionCacheHeld);
static_assert(QC_DECISION_SHADOW_SAMPLED == quantclaw::kDecisionShadowSampled);
static_assert(offsetof(qc_decision, reason) + sizeof(qc_decision{}.reason) == QC_DECISION_SIZE_V1,
              "qc_decision of ABI 1.0 ends with reason");
static_assert(sizeof(qc_buffer) == QC_BUFFER_SIZE_V1, "qc_buffer of ABI 1.0");
static_assert(QC_FORMAT_PROTOBUF == static_cast<uint32_t>(quantclaw::WireFormat::kProtobuf));
static_assert(QC_FORMAT_JSON == static_cast<uint32_t>(quantclaw::WireFormat::kJson));

// A handle is only ever read after the registry below has found its address among the live ones, so
// a wild pointer, a byte copy of a handle or a freed handle is refused without being touched. A handle
// outlives its router: freeing destroys the router but keeps the handle's 16 bytes, so its address is
// never handed out again and a freed handle stays recognisably freed. Hosts create routers rarely.
struct qc_router {
  quantclaw::Router* router;
  // Calls between their registry lookup and their return; qc_router_free waits until there are none.
  std::atomic<uint64_t> calls_in_flight;
};

namespace {

thread_local std::string t_last_error;

// The registry of handles, sharded by address so that calls on different routers share no lock. A call
// holds its shard's lock as a reader only for one lookup and one increment (no allocation); qc_router_new
// and qc_router_free take it as a writer. Freed handles stay in `freed`, reachable, so leak checkers see
// them as held, not lost.
struct alignas(64) RegistryShard {
  std::shared_mutex mutex;
  absl::flat_hash_set<const qc_router*> live;
  absl::flat_hash_set<const qc_router*> freed;
};
constexpr size_t kRegistryShards = 16;
RegistryShard* const g_registry = new RegistryShard[kRegistryShards];

RegistryShard& ShardOf(const qc_router* handle) {
  const auto address = reinterpret_cast<uintptr_t>(handle);
  return g_registry[((address >> 4) ^ (address >> 12)) % kRegistryShards];
}

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

int32_t BadHandle(const char* function, bool freed) {
  return Fail(QC_ERR_BAD_HANDLE, std::string(function) + (freed ? ": router handle was already freed"
                                                                 : ": not a router handle from qc_router_new"));
}

// One call on a live router, from the registry lookup to its return: while it lasts, qc_router_free of
// the router waits. Scopes nest on a thread (a qc_complete callback calls in again), innermost first.
class CallScope {
 public:
  CallScope() = default;
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;
  ~CallScope() {
    if (handle_ == nullptr) return;
    innermost_ = previous_;
    // The last touch of the handle: after it, qc_router_free may destroy the router.
    handle_->calls_in_flight.fetch_sub(1, std::memory_order_release);
  }

  // Finds `handle` among the live ones before reading anything through it.
  int32_t Enter(qc_router* handle, const char* function) {
    if (handle == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, std::string(function) + ": router is NULL");
    RegistryShard& shard = ShardOf(handle);
    bool freed;
    {
      std::shared_lock<std::shared_mutex> lock(shard.mutex);
      if (shard.live.contains(handle)) {
        // Under the lock, so a qc_router_free that takes it next sees this call in flight.
        handle->calls_in_flight.fetch_add(1, std::memory_order_relaxed);
        handle_ = handle;
        previous_ = innermost_;
        innermost_ = this;
        return QC_OK;
      }
      freed = shard.freed.contains(handle);
    }
    return BadHandle(function, freed);
  }

  quantclaw::Router& router() const { return *handle_->router; }

  static bool InFlightOnThisThread(const qc_router* handle) {
    for (const CallScope* scope = innermost_; scope != nullptr; scope = scope->previous_) {
      if (scope->handle_ == handle) return true;
    }
    return false;
  }

 private:
  static thread_local const CallScope* innermost_;
  qc_router* handle_ = nullptr;
  const CallScope* previous_ = nullptr;
};
thread_local const CallScope* CallScope::innermost_ = nullptr;

int32_t CheckFormat(uint32_t format, const char* function) {
  if (format == QC_FORMAT_PROTOBUF || format == QC_FORMAT_JSON) return QC_OK;
  return Fail(QC_ERR_INVALID_ARGUMENT, std::string(function) + ": format " + std::to_string(format) +
                                           " is neither QC_FORMAT_PROTOBUF (1) nor QC_FORMAT_JSON (2)");
}

// Checks a message argument and its size against the router's limit; yields its bytes.
int32_t CheckMessage(const quantclaw::Router& router, const qc_bytes* bytes, uint32_t format, const char* function,
                     const char* what, std::string_view* out) {
  if (int32_t status = CheckFormat(format, function); status != QC_OK) return status;
  if (bytes == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, std::string(function) + ": " + what + " is NULL");
  if (bytes->data == nullptr && bytes->size != 0) {
    return Fail(QC_ERR_INVALID_ARGUMENT, std::string(function) + ": " + what + "->data is NULL with size " +
                                             std::to_string(bytes->size));
  }
  uint64_t limit = router.max_message_bytes();
  if (bytes->size > limit) {
    return Fail(QC_ERR_TOO_LARGE, std::string(function) + ": " + what + " is " + std::to_string(bytes->size) +
                                      " bytes, over limits.max_message_bytes (" + std::to_string(limit) + ")");
  }
  *out = bytes->size == 0 ? std::string_view()
                          : std::string_view(reinterpret_cast<const char*>(bytes->data), bytes->size);
  return QC_OK;
}

// Runs `body` on the router of a live handle, which stays alive until `body` returns. A rejected call
// on a live router is counted, so a host's bad input shows in the metrics.
template <typename Body>
int32_t OnRouter(qc_router* handle, const char* function, Body&& body) {
  return Guarded(function, [&]() -> int32_t {
    CallScope scope;
    if (int32_t status = scope.Enter(handle, function); status != QC_OK) return status;
    int32_t status = Guarded(function, [&]() -> int32_t { return body(scope.router()); });
    if (status != QC_OK) quantclaw::Increment(scope.router().metrics().rejected_calls);
    return status;
  });
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
    auto handle = std::make_unique<qc_router>();
    handle->router = router->get();
    handle->calls_in_flight.store(0, std::memory_order_relaxed);
    RegistryShard& shard = ShardOf(handle.get());
    {
      std::unique_lock<std::shared_mutex> lock(shard.mutex);
      shard.live.insert(handle.get());
    }
    router->release();
    *out_router = handle.release();
    return QC_OK;
  });
}

QC_API int32_t qc_router_free(qc_router* router) {
  return Guarded("qc_router_free", [&]() -> int32_t {
    if (router == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_router_free: router is NULL");
    if (CallScope::InFlightOnThisThread(router)) {
      // Waiting below for that call to return would wait forever.
      return Fail(QC_ERR_INVALID_ARGUMENT,
                  "qc_router_free: a call on this router is in flight on this thread (a qc_complete chunk "
                  "callback); free the router after that call returns");
    }
    RegistryShard& shard = ShardOf(router);
    {
      std::unique_lock<std::shared_mutex> lock(shard.mutex);
      if (!shard.live.contains(router)) return BadHandle("qc_router_free", shard.freed.contains(router));
      shard.freed.insert(router);  // first: if it cannot allocate, the router stays live and whole
      shard.live.erase(router);
    }
    // From here no call finds the handle; the calls that found it before finish on the live router.
    for (int spins = 0; router->calls_in_flight.load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < 64) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }
    delete router->router;
    router->router = nullptr;
    return QC_OK;
  });
}

QC_API int32_t qc_router_reload(qc_router* router, const char* config_json, size_t config_len) {
  return OnRouter(router, "qc_router_reload", [&](quantclaw::Router& live_router) -> int32_t {
    if (config_json == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_router_reload: config_json is NULL");
    return FromStatus(live_router.Reload(std::string_view(config_json, config_len)), QC_ERR_INVALID_CONFIG);
  });
}

QC_API int32_t qc_on_step(qc_router* router, const qc_bytes* step, uint32_t format) {
  return OnRouter(router, "qc_on_step", [&](quantclaw::Router& live_router) -> int32_t {
    std::string_view bytes;
    if (int32_t check = CheckMessage(live_router, step, format, "qc_on_step", "step", &bytes); check != QC_OK) {
      return check;
    }
    quantclaw::v1::Step message;
    if (int32_t decoded = FromStatus(quantclaw::DecodeMessage(bytes, Format(format), &message), QC_ERR_PARSE);
        decoded != QC_OK) {
      return decoded;
    }
    return FromStatus(live_router.OnStep(message));
  });
}

QC_API int32_t qc_choose_precision(qc_router* router, const qc_bytes* request, uint32_t format,
                                   qc_decision* out_decision) {
  return OnRouter(router, "qc_choose_precision", [&](quantclaw::Router& live_router) -> int32_t {
    std::string_view bytes;
    if (int32_t check = CheckMessage(live_router, request, format, "qc_choose_precision", "request", &bytes);
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
    if (int32_t chosen = FromStatus(live_router.Choose(session_id, &choice)); chosen != QC_OK) return chosen;

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
  });
}

QC_API int32_t qc_report_outcome(qc_router* router, const qc_bytes* outcome, uint32_t format) {
  return OnRouter(router, "qc_report_outcome", [&](quantclaw::Router& live_router) -> int32_t {
    std::string_view bytes;
    if (int32_t check = CheckMessage(live_router, outcome, format, "qc_report_outcome", "outcome", &bytes);
        check != QC_OK) {
      return check;
    }
    quantclaw::v1::Outcome message;
    if (int32_t decoded = FromStatus(quantclaw::DecodeMessage(bytes, Format(format), &message), QC_ERR_PARSE);
        decoded != QC_OK) {
      return decoded;
    }
    if (message.session_id().empty()) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_report_outcome: outcome.session_id is empty");
    return FromStatus(live_router.ReportOutcome(message));
  });
}

QC_API int32_t qc_session_end(qc_router* router, const char* session_id, size_t session_id_len) {
  return OnRouter(router, "qc_session_end", [&](quantclaw::Router& live_router) -> int32_t {
    if (session_id == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_session_end: session_id is NULL");
    return FromStatus(live_router.EndSession(std::string_view(session_id, session_id_len)));
  });
}

QC_API int32_t qc_metrics(qc_router* router, qc_buffer* out_text) {
  return OnRouter(router, "qc_metrics", [&](quantclaw::Router& live_router) -> int32_t {
    if (out_text == nullptr) return Fail(QC_ERR_INVALID_ARGUMENT, "qc_metrics: out_text is NULL");
    if (out_text->struct_size < QC_BUFFER_SIZE_V1) {
      return Fail(QC_ERR_INVALID_ARGUMENT, "qc_metrics: out_text->struct_size is below QC_BUFFER_SIZE_V1; set it to sizeof(qc_buffer)");
    }
    return GiveBuffer(live_router.MetricsText(), out_text, "qc_metrics");
  });
}

QC_API int32_t qc_complete(qc_router* router, const qc_bytes* request, uint32_t format, qc_chunk_fn on_chunk,
                           void* user_data, qc_buffer* out_response) {
  return OnRouter(router, "qc_complete", [&](quantclaw::Router& live_router) -> int32_t {
    std::string_view bytes;
    if (int32_t check = CheckMessage(live_router, request, format, "qc_complete", "request", &bytes); check != QC_OK) {
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
    absl::Status status = live_router.Complete(call, on_chunk != nullptr ? &sink : nullptr, &response, &choice);
    if (!status.ok()) return FromStatus(status);
    return GiveBuffer(response, out_response, "qc_complete");
  });
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
