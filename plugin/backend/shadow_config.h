// Shadow sampling's settings, the /shadow section of the config: how often a qc_complete step is scored
// on the reference and low tiers, how, and where the labelled traces go.
#ifndef QUANTCLAW_PLUGIN_BACKEND_SHADOW_CONFIG_H_
#define QUANTCLAW_PLUGIN_BACKEND_SHADOW_CONFIG_H_

#include <cstdint>
#include <string>

#include <boost/json/value.hpp>

#include "util/validator.h"

namespace quantclaw {

// How the tiers are asked for their logprobs (every tier of the ladder is the same kind of server).
enum class ShadowMethod {
  kLlamaServer,  // llama-server's /apply-template, /tokenize and /completion with n_probs, per position
  kVllm,         // vLLM's /tokenize and /v1/completions with prompt_logprobs, one call per tier
};

struct ShadowConfig {
  double rate = 0;                  // share of steps scored; 0 (or no /shadow): none
  uint32_t top_logprobs = 20;       // k of the top-k logprobs each tier returns per position
  std::string trace_path;           // directory of the trace files; required when rate > 0
  uint32_t action_tokens = 16;      // teacher-forced over the first N tokens of the action
  uint32_t queue = 64;              // steps waiting to be scored; a step past it is dropped and counted
  uint64_t max_file_bytes = 64u << 20;  // a trace file rotates before it passes this size
  // KL(reference || low) in nats at or above which a step is labelled needs_high_precision in the trace.
  // `quantclaw train` does not rely on it: it finds its own threshold from the KL histogram (DMR 5.5).
  double kl_threshold = 0.05;
  uint32_t timeout_ms = 30000;      // each scoring request's total time
  ShadowMethod method = ShadowMethod::kLlamaServer;  // /shadow/method: "llama_server" or "vllm"

  bool enabled() const { return rate > 0; }
};

// /shadow.
void ParseShadowConfig(const boost::json::object& root, Validator& v, ShadowConfig* config);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_BACKEND_SHADOW_CONFIG_H_
