// KV hand-off between tiers: a session's prompt cache moves from one tier's server to another's, so that
// the receiving tier decodes without re-paying the prefill.
//
// Two uses, both in qc_complete:
//   - the Mix-Quant phase split (seed 002): the prompt is prefilled on the quantized tier, its cache moves
//     to the reference tier, which decodes the answer;
//   - a switch: when the policy moves a session to another tier, the warm prefix on the old tier moves
//     with it instead of being recomputed.
// Two kinds (config.h's TierHandoff):
//   - llama_slots: llama-server's slot files. The prefill call is pinned to the session's slot
//     (SessionSlot), POST /slots/{id}?action=save writes that slot's cache into the shared slot folder,
//     ?action=restore on the other server reads it into the session's slot there; the file is deleted
//     once read. The decode call is pinned to that slot and finds the prompt cached.
//   - vllm_disagg: vLLM's disaggregated prefill (its NixlConnector proxies): the prefill call carries
//     kv_transfer_params {"do_remote_decode": true, ...} with max_tokens 1 and stream false; the
//     kv_transfer_params of its answer go into the decode call, whose server pulls the blocks itself.
//     Split only: a switch has no prefill call to hang a transfer on.
// Nothing here fails the host's call: a hand-off that breaks on the way (a server down, a file missing, a
// restore refused) leaves the decode tier to a cold call, and the reason and the counters say so.
#ifndef QUANTCLAW_PLUGIN_BACKEND_HANDOFF_H_
#define QUANTCLAW_PLUGIN_BACKEND_HANDOFF_H_

#include <atomic>
#include <cstdint>
#include <string>

#include <boost/json/value.hpp>

#include "backend/backend_config.h"
#include "backend/http_client.h"
#include "backend/tier_client.h"
#include "config/config.h"
#include "messages/completion_request.h"
#include "telemetry/metrics.h"

namespace quantclaw {

// One hand-off as it went, for the response's "quantclaw.handoff" and the tests.
struct HandoffResult {
  bool attempted = false;  // false: the tiers cannot hand off (see `failure`), or nothing was tried
  bool ok = false;         // the cache arrived (llama_slots) or the transfer is set up (vllm_disagg)
  const char* use = "";    // "split" or "switch"
  HandoffKind kind = HandoffKind::kNone;
  uint32_t from = 0, to = 0;
  double prefill_ms = 0;   // the split's prefill call
  double save_ms = 0, restore_ms = 0;  // wall time of the two slot requests
  uint64_t bytes = 0;      // llama-server's n_written
  uint64_t tokens = 0;     // llama-server's n_restored
  uint64_t prefill_prompt_tokens = 0;  // the prefill call's timings.prompt_n (tokens it computed)
  std::string failure;     // why the decode call goes cold (empty when ok); the reason adds "; split cold: "
  std::string request_id;  // vllm_disagg: X-Request-Id of both hops
  boost::json::object kv_transfer_params;  // vllm_disagg: for the decode call

  // The decode call's extras (vllm_disagg's transfer parameters and request id).
  TierCallExtras Extras(const TierTable& tiers) const;
  boost::json::object ToJson(const TierTable& tiers) const;
};

class KvHandoff {
 public:
  KvHandoff(HttpClient* http_client, RouterMetrics* metrics) : http_(http_client), metrics_(metrics) {}

  // The phase split: prefill `call` on `prefill_tier`, then move its cache to `decode_tier`.
  void Split(const TierTable& tiers, const BackendConfig& backend, uint32_t prefill_tier, uint32_t decode_tier,
             const CompletionCall& call, HandoffResult* result);

  // A switch: move the session's cache on `from` (its last tier) to `to`. llama_slots only.
  void Carry(const TierTable& tiers, const BackendConfig& backend, uint32_t from, uint32_t to,
             const CompletionCall& call, HandoffResult* result);

 private:
  // Save the session's slot on `from` and restore it into its slot on `to`; the file is deleted after.
  bool MoveSlot(const TierTable& tiers, const BackendConfig& backend, const CompletionCall& call,
                HandoffResult* result);
  void Finish(HandoffResult* result);
  std::string UniqueName(std::string_view session_id, const char* suffix);

  HttpClient* http_;
  RouterMetrics* metrics_;
  std::atomic<uint64_t> sequence_{0};
};

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_BACKEND_HANDOFF_H_
