#include "backend/handoff.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include <boost/json.hpp>

#include "util/hash.h"
#include "util/strings.h"
#include "util/url.h"

namespace quantclaw {

namespace json = boost::json;

namespace {

const char* KindName(HandoffKind kind) {
  switch (kind) {
    case HandoffKind::kLlamaSlots: return "llama_slots";
    case HandoffKind::kVllmDisagg: return "vllm_disagg";
    case HandoffKind::kNone: break;
  }
  return "none";
}

// llama-server's /slots endpoints sit at the server's root; a tier's base_url is its OpenAI root
// (".../v1"), which is cut off.
std::string ServerRoot(std::string_view base_url) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  if (base_url.size() >= 3 && base_url.substr(base_url.size() - 3) == "/v1") base_url.remove_suffix(3);
  return std::string(base_url);
}

uint64_t UnsignedField(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) return 0;
  if (value->is_uint64()) return value->get_uint64();
  if (value->is_int64() && value->get_int64() > 0) return static_cast<uint64_t>(value->get_int64());
  return 0;
}

// POST /slots/{slot}?action={action} {"filename": ...}: the answer's object, or why not.
absl::Status SlotAction(HttpClient& http, const TierConfig& tier, const BackendConfig& backend, uint32_t slot,
                        std::string_view action, std::string_view filename, json::object* answer, double* ms) {
  HttpRequest request;
  request.url = StrCat(ServerRoot(tier.base_url), "/slots/", slot, "?action=", action);
  request.body = json::serialize(json::object{{"filename", filename}});
  // The first-byte limit is the call's own: a restore into a busy slot waits until the slot is free.
  request.timeouts = {backend.connect_timeout_ms, backend.first_byte_timeout_ms, backend.total_timeout_ms};
  request.max_response_bytes = 1 << 16;
  request.ca_file = tier.ca_file;
  std::string_view key;
  if (!tier.api_key_env.empty()) {
    if (const char* value = std::getenv(tier.api_key_env.c_str()); value != nullptr) key = value;
  }
  if (!key.empty()) request.headers.push_back(StrCat("Authorization: Bearer ", key));
  HttpResponse response;
  absl::Status status = http.Post(request, nullptr, &response);
  *ms = response.total_ms;
  if (!status.ok()) {
    return absl::Status(status.code(), StrCat(tier.name, " slot ", slot, " ", action, ": ",
                                              RedactSecret(FromAbsl(status.message()), key)));
  }
  if (response.status != 200) {
    return absl::DataLossError(StrCat(tier.name, " slot ", slot, " ", action, " answered HTTP ", response.status, ": ",
                                      Utf8Excerpt(RedactSecret(response.body, key), 160)));
  }
  boost::system::error_code ec;
  json::value document = json::parse(response.body, ec);
  if (ec || !document.is_object()) {
    return absl::DataLossError(StrCat(tier.name, " slot ", slot, " ", action, " answered something that is not a JSON object"));
  }
  *answer = std::move(document.get_object());
  return absl::OkStatus();
}

}  // namespace

TierCallExtras HandoffResult::Extras(const TierTable& tiers) const {
  TierCallExtras extras;
  if (ok && kind == HandoffKind::kVllmDisagg) {
    extras.kv_transfer_params = &kv_transfer_params;
    extras.kv_transfer_tier = tiers.tiers[to].name;
  }
  extras.request_id = request_id;
  return extras;
}

json::object HandoffResult::ToJson(const TierTable& tiers) const {
  json::object out{{"use", use},
                   {"kind", KindName(kind)},
                   {"from", tiers.tiers[from].name},
                   {"to", tiers.tiers[to].name},
                   {"attempted", attempted},
                   {"ok", ok}};
  if (prefill_ms > 0) out["prefill_ms"] = prefill_ms;
  if (prefill_prompt_tokens > 0) out["prefill_prompt_tokens"] = prefill_prompt_tokens;
  if (kind == HandoffKind::kLlamaSlots && attempted) {
    out["save_ms"] = save_ms;
    out["restore_ms"] = restore_ms;
    out["bytes"] = bytes;
    out["tokens"] = tokens;
  }
  if (!failure.empty()) out["failure"] = failure;
  return out;
}

std::string KvHandoff::UniqueName(std::string_view session_id, const char* suffix) {
  // Unique across the processes sharing a slot folder (pid) and the calls of this one (sequence); the
  // session's hash only helps a reader of the folder. llama-server takes plain file names only.
  return StrCat("qc-", static_cast<long>(getpid()), "-", sequence_.fetch_add(1, std::memory_order_relaxed), "-",
                Fnv1a(session_id) & 0xffffffffu, suffix);
}

void KvHandoff::Split(const TierTable& tiers, const BackendConfig& backend, uint32_t prefill_tier, uint32_t decode_tier,
                      const CompletionCall& call, HandoffResult* result) {
  result->use = "split";
  result->from = prefill_tier;
  result->to = decode_tier;
  const TierConfig& prefill = tiers.tiers[prefill_tier];
  if (!tiers.CanHandOff(prefill_tier, decode_tier)) {
    result->failure = StrCat(prefill.name, " and ", tiers.tiers[decode_tier].name, " share no hand-off group");
    Increment(metrics_->phase_splits_cold);
    return;
  }
  result->kind = prefill.handoff.kind;
  result->attempted = true;
  Increment(metrics_->handoffs_attempted_by_tier[decode_tier]);

  // The prefill call: the host's request, answered with one token, not streamed. Its answer is dropped;
  // what it leaves behind (the slot's cache, or vLLM's blocks held for the decode server) is the point.
  CompletionCall prefill_call;
  prefill_call.session_id = call.session_id;
  prefill_call.chat = call.chat;
  prefill_call.body = call.body;
  json::object& body = prefill_call.body;
  body["max_tokens"] = 1;
  if (body.contains("max_completion_tokens")) body["max_completion_tokens"] = 1;
  body.erase("stream_options");
  body.erase("min_tokens");  // vLLM's prefill server refuses them (its proxies drop them too)
  body.erase("min_completion_tokens");
  body.erase("n");
  TierCallExtras extras;
  if (result->kind == HandoffKind::kVllmDisagg) {
    result->request_id = UniqueName(call.session_id, "");
    extras.request_id = result->request_id;
    body["kv_transfer_params"] = json::object{{"do_remote_decode", true},  {"do_remote_prefill", false},
                                              {"remote_engine_id", nullptr}, {"remote_block_ids", nullptr},
                                              {"remote_host", nullptr},      {"remote_port", nullptr}};
  }
  size_t delivered = 0;
  TierCallResult prefilled;
  Increment(metrics_->prefill_calls_by_tier[prefill_tier]);
  absl::Status status = CallTier(*http_, prefill, backend, prefill_call, nullptr, false, &delivered, &prefilled, &extras);
  result->prefill_ms = prefilled.latency_ms;
  if (!status.ok()) {
    result->failure = StrCat("prefill failed: ", FromAbsl(status.message()));
    Finish(result);
    return;
  }
  const json::object& answer = prefilled.document.get_object();
  if (const json::value* timings = answer.if_contains("timings"); timings && timings->is_object()) {
    result->prefill_prompt_tokens = UnsignedField(timings->get_object(), "prompt_n");
  }
  if (result->kind == HandoffKind::kVllmDisagg) {
    const json::value* params = answer.if_contains("kv_transfer_params");
    if (params == nullptr || !params->is_object() || params->get_object().empty()) {
      result->failure = StrCat(prefill.name, "'s prefill answer has no kv_transfer_params (is vLLM's KV connector on?)");
    } else {
      result->kv_transfer_params = params->get_object();
      result->ok = true;
    }
    Finish(result);
    return;
  }
  MoveSlot(tiers, backend, call, result);
  Finish(result);
}

void KvHandoff::Carry(const TierTable& tiers, const BackendConfig& backend, uint32_t from, uint32_t to,
                      const CompletionCall& call, HandoffResult* result) {
  result->use = "switch";
  result->from = from;
  result->to = to;
  if (!tiers.CanHandOff(from, to) || tiers.tiers[from].handoff.kind != HandoffKind::kLlamaSlots) return;
  result->kind = HandoffKind::kLlamaSlots;
  result->attempted = true;
  Increment(metrics_->handoffs_attempted_by_tier[to]);
  MoveSlot(tiers, backend, call, result);
  Finish(result);
}

bool KvHandoff::MoveSlot(const TierTable& tiers, const BackendConfig& backend, const CompletionCall& call,
                         HandoffResult* result) {
  const TierConfig& from = tiers.tiers[result->from];
  const TierConfig& to = tiers.tiers[result->to];
  const std::string filename = UniqueName(call.session_id, ".bin");
  json::object saved;
  absl::Status status = SlotAction(*http_, from, backend, SessionSlot(from, call.session_id), "save", filename, &saved,
                                   &result->save_ms);
  if (!status.ok()) {
    result->failure = StrCat("save failed: ", FromAbsl(status.message()));
    return false;
  }
  result->bytes = UnsignedField(saved, "n_written");
  if (UnsignedField(saved, "n_saved") == 0) {
    result->failure = StrCat(from.name, "'s slot held no cache for the session");
  } else {
    json::object restored;
    status = SlotAction(*http_, to, backend, SessionSlot(to, call.session_id), "restore", filename, &restored,
                        &result->restore_ms);
    if (!status.ok()) {
      result->failure = StrCat("restore failed: ", FromAbsl(status.message()));
    } else {
      result->tokens = UnsignedField(restored, "n_restored");
      result->ok = true;
    }
  }
  // Read or not, the file is of no further use; llama-server has no request that deletes one.
  std::error_code ignored;
  std::filesystem::remove(std::filesystem::path(from.handoff.slot_dir) / filename, ignored);
  return result->ok;
}

void KvHandoff::Finish(HandoffResult* result) {
  if (!result->attempted) return;
  if (result->ok) {
    Increment(metrics_->handoffs_succeeded_by_tier[result->to]);
    Increment(metrics_->handoff_bytes, result->bytes);
    Increment(metrics_->handoff_tokens, result->tokens);
    Increment(metrics_->handoff_microseconds, static_cast<uint64_t>((result->save_ms + result->restore_ms) * 1000));
  } else {
    Increment(metrics_->handoffs_fell_back_by_tier[result->to]);
  }
}

}  // namespace quantclaw
