/*
 * quantclaw.h: the C ABI of libquantclaw, a per-step precision router for LLM agents.
 *
 * This header is the whole contract between a host (an agent, in any language) and the library.
 * It is C99 that also compiles as C89 and as C++11..C++20 with -pedantic -Werror.
 *
 * One step, as a host drives it:
 *   qc_router_new(config)                      once
 *   qc_on_step(router, Step)                   for every LLM call: the messages new since the last step
 *   qc_choose_precision(router, request, &d)   -> d.tier_index / d.tier_name: the tier to call
 *   qc_report_outcome(router, Outcome)         optional: what the call did (tokens, latency, validity)
 *   qc_router_free(router)                     once
 *
 * Rich data crosses as bytes: a protobuf message of proto/quantclaw/v1/ (QC_FORMAT_PROTOBUF) or its
 * canonical proto3 JSON mapping (QC_FORMAT_JSON; both snake_case and lowerCamelCase field names parse).
 *
 * Errors: every function that can fail returns an int32_t status (QC_OK or a QC_ERR_* value) and
 * qc_last_error() then gives a message naming what was wrong, for the calling thread.
 *
 * Thread tags, written on every function:
 *   [any-thread]      may be called from any thread, concurrently with any other call on the same router.
 *   [session-serial]  may be called from any thread concurrently for different sessions; calls for one
 *                     session must not overlap (an agent's steps are sequential anyway).
 *   [exclusive]       no other call on the same router may be in flight or start until it returns.
 *
 * Ownership words: OWNERSHIP says who owns what crosses; LIFETIME says how long it stays valid.
 */
#ifndef QUANTCLAW_QUANTCLAW_H_
#define QUANTCLAW_QUANTCLAW_H_

#include <stddef.h>
#include <stdint.h>

/* QC_API marks the exported functions. On Windows the library's own build defines QUANTCLAW_BUILDING
 * (dllexport) and a host does not (dllimport); elsewhere the symbols have default visibility, since the
 * library is built with -fvisibility=hidden. */
#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(QUANTCLAW_BUILDING)
#define QC_API __declspec(dllexport)
#else
#define QC_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define QC_API __attribute__((visibility("default")))
#else
#define QC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version: a minor bump adds symbols or struct fields; a major bump breaks. SONAME = major.
 * These two lines are the one source of the version: the build reads them (the project, the library's
 * file name and SONAME, the CMake package and quantclaw.pc follow), so keep each on its own line as
 * "#define QC_ABI_VERSION_MAJOR <digits>". */
#define QC_ABI_VERSION_MAJOR 1
#define QC_ABI_VERSION_MINOR 1
#define QC_ABI_VERSION ((QC_ABI_VERSION_MAJOR << 16) | QC_ABI_VERSION_MINOR)

/* Status codes. Append-only: a value is never reused for another meaning. */
#define QC_OK 0
#define QC_ERR_INVALID_ARGUMENT 1 /* a NULL pointer, a bad struct_size, an unknown format value */
#define QC_ERR_PARSE 2            /* message bytes that do not decode as the expected message */
#define QC_ERR_INVALID_CONFIG 3   /* config problems; qc_last_error lists each as "pointer: reason" */
#define QC_ERR_UNKNOWN_SESSION 4  /* a session id never seen by qc_on_step, ended, or expired */
#define QC_ERR_TOO_LARGE 5        /* a message over the configured limits.max_message_bytes; from
                                     qc_complete also a tier's answer over backend.max_response_bytes */
#define QC_ERR_BAD_HANDLE 6       /* a router handle that was freed or never came from qc_router_new
                                     (any pointer: the library looks it up before reading through it) */
#define QC_ERR_VERSION 7          /* an ABI major the library does not implement */
#define QC_ERR_OUT_OF_ORDER 8     /* a step_index at or below one already seen for the session, or any
                                     step after step_index 2^64-1 (the next would wrap to 0) */
#define QC_ERR_INTERNAL 9         /* an internal failure (out of memory, a bug); the router stays usable */
/* Since ABI 1.1, from qc_complete: */
#define QC_ERR_UNAVAILABLE 10     /* the tier could not be reached, or the connection broke */
#define QC_ERR_TIMEOUT 11         /* connect, first-byte or total timeout (config "backend") */
#define QC_ERR_CANCELLED 12       /* the host's chunk callback asked to stop */
#define QC_ERR_UPSTREAM 13        /* the tier answered an HTTP error, invalid JSON or a cut-off stream */

/* Message encodings, the `format` argument. */
#define QC_FORMAT_PROTOBUF 1
#define QC_FORMAT_JSON 2

/* qc_decision.flags bits. */
#define QC_DECISION_FORCED 1u      /* a forced rule or a host hint chose the tier, not the scorer */
#define QC_DECISION_ESCALATED 2u   /* moved up the ladder: invalid tool call last step, or a missing target */
#define QC_DECISION_BUDGET_HELD 4u /* the fixed threshold would have gone higher; the budget held it down */
#define QC_DECISION_DEFAULTED 8u   /* every scorer declined; the policy's default tier applies */
#define QC_DECISION_PHASE_SPLIT 16u /* prefill_tier_index differs from tier_index (prefill/decode split) */
#define QC_DECISION_CACHE_HELD 32u  /* since 1.1: the governor kept a long session on its warm-cache tier */
#define QC_DECISION_SHADOW_SAMPLED 64u /* since 1.1: shadow sampling drew this step (config "shadow"); a host
                                          * that makes its own calls reports the request it sent and the action
                                          * it got in this step's Outcome (request_json, action_text or
                                          * response_json): see qc_report_outcome */

/* Borrowed bytes. A fixed pair (pointer, length) that never grows, so it has no struct_size. */
typedef struct qc_bytes {
  const uint8_t *data;
  size_t size;
} qc_bytes;

/* Bytes owned by the library until qc_buffer_free. */
typedef struct qc_buffer {
  uint32_t struct_size; /* in: sizeof(qc_buffer) as the caller knows it */
  uint32_t reserved0;
  uint8_t *data;        /* out: NUL-terminated for text; size excludes the NUL */
  size_t size;
} qc_buffer;

/* The size of qc_buffer in ABI 1.0, fixed forever. */
#define QC_BUFFER_SIZE_V1 24u

/* The routing decision for one step. The caller sets struct_size; the library writes at most that many
 * bytes and never less than QC_DECISION_SIZE_V1 (a smaller struct_size is QC_ERR_INVALID_ARGUMENT). */
typedef struct qc_decision {
  uint32_t struct_size;        /* in: sizeof(qc_decision) as the caller knows it */
  uint32_t tier_index;         /* out: index into the config's "tiers" array */
  uint32_t flags;              /* out: QC_DECISION_* bits */
  uint32_t prefill_tier_index; /* out: tier for the prefill phase; equals tier_index without a phase split */
  uint64_t step_index;         /* out: the step this decision is for */
  double score;                /* out: scorer output in [0, 1]; -1 when no scorer ran (forced) */
  double threshold;            /* out: the threshold the score was held against (-1 when none applied) */
  char tier_name[64];          /* out: NUL-terminated tier name */
  char step_kind[32];          /* out: NUL-terminated step kind, from the host's hint or inferred */
  char reason[192];            /* out: NUL-terminated, human-readable: which rule or scorer decided and why */
} qc_decision;

/* The size of qc_decision in ABI 1.0, fixed forever: a later minor version grows the struct, and a
 * caller built against 1.0 still passes this size. */
#define QC_DECISION_SIZE_V1 328u

typedef struct qc_router qc_router; /* opaque */

/* Returns QC_ABI_VERSION of the library. [any-thread] Never fails. */
QC_API uint32_t qc_abi_version(void);

/* Creates a router from a host config (JSON, see README.md "Configuration").
 * On QC_ERR_INVALID_CONFIG no router is created and qc_last_error() lists every problem, one per line,
 * as "JSON-pointer: reason".
 * OWNERSHIP: config_json is borrowed for the call; *out_router is owned by the caller until qc_router_free.
 * [any-thread] */
QC_API int32_t qc_router_new(const char *config_json, size_t config_len, qc_router **out_router);

/* Destroys a router and every session in it. Freeing twice returns QC_ERR_BAD_HANDLE.
 * Every function taking a qc_router * looks the pointer up among the live handles before it reads
 * anything through it: a freed handle, a pointer that never came from qc_router_new, or a pointer to
 * a copy of a handle's bytes returns QC_ERR_BAD_HANDLE and touches nothing.
 * Calls on this router in flight on other threads when qc_router_free starts finish on the live router:
 * it returns only after they have returned (a qc_complete may take up to its backend timeouts). Calls
 * that start after it has started return QC_ERR_BAD_HANDLE. Called from a chunk callback of a call on
 * this same router, it would wait for itself: it returns QC_ERR_INVALID_ARGUMENT and frees nothing.
 * LIFETIME: the handle is invalid afterwards; later calls with it return QC_ERR_BAD_HANDLE (its address
 * is never handed out again by qc_router_new).
 * [any-thread] */
QC_API int32_t qc_router_free(qc_router *router);

/* Replaces the config atomically; sessions, their features and the budget history are kept. On
 * QC_ERR_INVALID_CONFIG the old config stays in force. Calls in flight finish on the config they started with.
 * OWNERSHIP: config_json is borrowed for the call.
 * [any-thread] */
QC_API int32_t qc_router_reload(qc_router *router, const char *config_json, size_t config_len);

/* Feeds one step: a quantclaw.v1.Step with the messages new since the session's last step. A session is
 * created on its first step. Only the new messages are read (cost proportional to their size), with one
 * exception: when the config's quantclaw scorer asks an LLM judge (its "judge" has an endpoint and a
 * model; see README.md) and a step opens a new user turn that no task-type rule matched (and no hint
 * names the task type), the call blocks on one HTTP call to the judge, for at most the judge's timeoutMs.
 * Answers are cached by a hash of the prompt (and the judge's model) for cacheTtlMs, failures for at
 * most 30 s, so a repeated prompt does not wait again. Only this session waits; calls for other sessions
 * go on. qc_complete feeds its step the same way, before it calls the tier.
 * OWNERSHIP: step bytes are borrowed for the call.
 * [session-serial] */
QC_API int32_t qc_on_step(qc_router *router, const qc_bytes *step, uint32_t format);

/* Decides the tier for the session's latest step: a quantclaw.v1.DecisionRequest (its session_id).
 * Constant time in the context length; allocation-free in the steady state. When the tier the policy
 * picked has its circuit breaker open (failures that qc_complete met or that outcomes reported), the
 * decision moves up the ladder to the first tier whose breaker lets calls through, as qc_complete fails
 * over, and the reason says so ("failover: ..."); with backend.failover off it stays and the reason says
 * the breaker is open.
 * OWNERSHIP: request bytes are borrowed for the call; *out_decision is the caller's, written in place.
 * [session-serial] */
QC_API int32_t qc_choose_precision(qc_router *router, const qc_bytes *request, uint32_t format,
                                   qc_decision *out_decision);

/* Reports what a routed call did: a quantclaw.v1.Outcome. An outcome with tool_call_valid = false
 * escalates the session's next step when the policy says so. A host that makes its own calls feeds the
 * tier's circuit breaker here: status UNAVAILABLE, TIMEOUT, or ERROR with http_status 0, 429 or 5xx counts
 * as the tier failing (backend.breaker_failures in a row open it); OK closes it; ERROR with another
 * http_status (the tier refused the request) and CANCELLED leave it as it was. latency_ms and ttft_ms must be finite and
 * from 0 to 1e9, episode_reward finite; anything else is QC_ERR_INVALID_ARGUMENT naming the field, and
 * nothing of the outcome is recorded.
 * Shadow sampling for hosts that make their own calls: when qc_choose_precision set
 * QC_DECISION_SHADOW_SAMPLED, the outcome of that step (same step_index, or none: the session's latest)
 * may carry request_json (the OpenAI request body the host sent) and action_text (what the tier
 * answered) or response_json (its response body). The library queues the step for scoring on the
 * reference and low tiers off the host's path (dropped and counted when the queue is full) and keeps
 * none of the text once queued. Such fields on an outcome of a step that was not drawn are ignored and
 * counted (quantclaw_shadow_unrequested_total); a drawn step's outcome without them is counted
 * (quantclaw_shadow_missing_request_total), and one whose outcome comes after qc_router_reload is
 * dropped (quantclaw_shadow_dropped_total). A request_json that is not a JSON object with "messages" or
 * a string "prompt" is QC_ERR_INVALID_ARGUMENT; the whole outcome is bounded by limits.max_message_bytes
 * (QC_ERR_TOO_LARGE). Only the status, not the scoring, is the call's.
 * OWNERSHIP: outcome bytes are borrowed for the call.
 * [session-serial] */
QC_API int32_t qc_report_outcome(qc_router *router, const qc_bytes *outcome, uint32_t format);

/* Ends a session and frees its state now rather than at idle expiry.
 * OWNERSHIP: session_id is borrowed for the call (not NUL-terminated: session_id_len bytes).
 * [session-serial] */
QC_API int32_t qc_session_end(qc_router *router, const char *session_id, size_t session_id_len);

/* Writes the router's counters in the Prometheus text exposition format.
 * OWNERSHIP: out_text->data is owned by the library until qc_buffer_free(out_text).
 * [any-thread] */
QC_API int32_t qc_metrics(qc_router *router, qc_buffer *out_text);

/* Frees what the library put in a qc_buffer and zeroes data/size. NULL or an empty buffer is a no-op.
 * [any-thread] */
QC_API void qc_buffer_free(qc_buffer *buffer);

/* The message of the calling thread's last failed call ("" when none). Never NULL.
 * LIFETIME: valid until the next qc_* call on this thread.
 * [any-thread] */
QC_API const char *qc_last_error(void);

/* Since ABI 1.1. Receives one streamed event: the JSON text of one chat.completion.chunk (or completion
 * chunk) exactly as the tier sent it. Return 0 to go on, anything else to cancel the call.
 * LIFETIME: chunk is valid only during the callback.
 * Calling back into the library from the callback: no lock of the library is held while the tier
 * answers, so the callback may call, on this router or any other,
 *   - the [any-thread] functions: qc_metrics, qc_router_reload (the running call finishes on the config
 *     it started with), qc_router_new, qc_buffer_free, qc_abi_version, qc_last_error;
 *   - the [session-serial] functions, qc_complete included, for sessions other than the call's own.
 * It must not make any call for the call's own session (its qc_complete is still in flight, so that
 * would overlap it); qc_router_free of the router the call runs on returns QC_ERR_INVALID_ARGUMENT
 * there (see qc_router_free). A call made from the callback
 * that fails sets this thread's qc_last_error, as any call does. */
typedef int32_t (*qc_chunk_fn)(void *user_data, const uint8_t *chunk, size_t size);

/* Since ABI 1.1. Makes the routed call: a quantclaw.v1.CompleteRequest carries the session id and the
 * OpenAI request body the host would send (the whole conversation; only messages not seen before count as
 * the step's new ones). quantclaw feeds the step, decides the tier, replaces the body's model with the
 * tier's, sends it to the tier's base_url with its API key, and returns the response. With on_chunk, the
 * call streams: each event reaches on_chunk as it arrives and *out_response still receives the aggregated
 * response (message, tool calls, usage, logprobs). The response has an extra object "quantclaw" with the
 * tier, step index and reason (and, for a phase split or a switch between tiers that can hand off their
 * KV cache, "prefill_tier" and "handoff"; README "KV hand-off"). A phase split first sends a prefill-only
 * request to the prefill tier; streamed events come from the decode tier only.
 * The body's max_tokens and max_completion_tokens, when present and not null, must be whole numbers from 0 to
 * 4294967295; anything else is QC_ERR_INVALID_ARGUMENT naming the field (/body/max_tokens), before any call.
 * Errors beyond the common ones: QC_ERR_UNAVAILABLE, QC_ERR_TIMEOUT, QC_ERR_CANCELLED, QC_ERR_UPSTREAM,
 * and QC_ERR_TOO_LARGE for a request over limits.max_message_bytes or a tier's answer over
 * backend.max_response_bytes (streamed or not; the events already passed to on_chunk stay delivered).
 * OWNERSHIP: request bytes are borrowed for the call; out_response->data is owned by the library until
 * qc_buffer_free(out_response). on_chunk is called on the calling thread, before this function returns;
 * see qc_chunk_fn for what it may call.
 * [session-serial] */
QC_API int32_t qc_complete(qc_router *router, const qc_bytes *request, uint32_t format, qc_chunk_fn on_chunk,
                           void *user_data, qc_buffer *out_response);

/* The same functions as one versioned table, for hosts that load plugins by one entry symbol.
 * A field that is NULL means "not implemented". Tables only grow at their end.
 * Returns NULL (qc_last_error says why) when host_abi_major is not QC_ABI_VERSION_MAJOR.
 * LIFETIME: the table is static; valid while the library is loaded.
 * [any-thread] */
typedef struct qc_plugin {
  uint32_t struct_size; /* sizeof(qc_plugin) of the library that filled it */
  uint32_t abi_version; /* QC_ABI_VERSION of the library */
  uint32_t (*abi_version_fn)(void);
  int32_t (*router_new)(const char *config_json, size_t config_len, qc_router **out_router);
  int32_t (*router_free)(qc_router *router);
  int32_t (*router_reload)(qc_router *router, const char *config_json, size_t config_len);
  int32_t (*on_step)(qc_router *router, const qc_bytes *step, uint32_t format);
  int32_t (*choose_precision)(qc_router *router, const qc_bytes *request, uint32_t format,
                              qc_decision *out_decision);
  int32_t (*report_outcome)(qc_router *router, const qc_bytes *outcome, uint32_t format);
  int32_t (*session_end)(qc_router *router, const char *session_id, size_t session_id_len);
  int32_t (*metrics)(qc_router *router, qc_buffer *out_text);
  void (*buffer_free)(qc_buffer *buffer);
  const char *(*last_error)(void);
  /* Since ABI 1.1: */
  int32_t (*complete)(qc_router *router, const qc_bytes *request, uint32_t format, qc_chunk_fn on_chunk,
                      void *user_data, qc_buffer *out_response);
} qc_plugin;

QC_API const qc_plugin *qc_plugin_entry(uint32_t host_abi_major);

/* Whether the table a library returned is long enough to hold `field`: a library of an older minor
 * version returns a shorter table (its struct_size), and a host must not read past it. A function field
 * the table holds may still be NULL (not implemented), so before a call a host checks both:
 *   if (QC_PLUGIN_HAS(table, complete) && table->complete != NULL) ...
 * `table` is a const qc_plugin *; `field` names a member of qc_plugin. */
#define QC_PLUGIN_HAS(table, field) \
  ((size_t)(table)->struct_size >= offsetof(qc_plugin, field) + sizeof((table)->field))

/* The name hosts look up with dlsym / GetProcAddress, and its type. */
#define QC_PLUGIN_ENTRY_SYMBOL "qc_plugin_entry"
typedef const qc_plugin *(*qc_plugin_entry_fn)(uint32_t host_abi_major);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* QUANTCLAW_QUANTCLAW_H_ */
