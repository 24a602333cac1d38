#include "backend/shadow_config.h"

#include <boost/json.hpp>

namespace quantclaw {

namespace json = boost::json;

void ParseShadowConfig(const json::object& root, Validator& v, ShadowConfig* config) {
  const json::value* shadow_value = root.if_contains("shadow");
  if (shadow_value == nullptr) return;
  const json::object* shadow =
      v.AsObject(*shadow_value, "/shadow",
                 {"rate", "top_logprobs", "trace_path", "action_tokens", "queue", "max_file_bytes", "kl_threshold",
                  "timeout_ms", "method"});
  if (shadow == nullptr) return;
  ShadowConfig& out = *config;
  out.rate = v.Number(*shadow, "rate", "/shadow", 0, 1, false).value_or(out.rate);
  // llama-server and vLLM both cap their top logprobs at 20.
  out.top_logprobs = v.Integer32(*shadow, "top_logprobs", "/shadow", 1, 20, out.top_logprobs);
  out.trace_path = v.String(*shadow, "trace_path", "/shadow", false).value_or(out.trace_path);
  out.action_tokens = v.Integer32(*shadow, "action_tokens", "/shadow", 1, 256, out.action_tokens);
  out.queue = v.Integer32(*shadow, "queue", "/shadow", 1, 65536, out.queue);
  out.max_file_bytes =
      v.Integer(*shadow, "max_file_bytes", "/shadow", 4096, uint64_t(1) << 40).value_or(out.max_file_bytes);
  out.kl_threshold = v.Number(*shadow, "kl_threshold", "/shadow", 0, 1e6, false).value_or(out.kl_threshold);
  out.timeout_ms = v.Integer32(*shadow, "timeout_ms", "/shadow", 100, 600000, out.timeout_ms);
  if (const json::value* method = shadow->if_contains("method")) {
    const json::string* name = method->if_string();
    if (name != nullptr && *name == "llama_server") {
      out.method = ShadowMethod::kLlamaServer;
    } else if (name != nullptr && *name == "vllm") {
      out.method = ShadowMethod::kVllm;
    } else {
      v.Error("/shadow/method", "must be \"llama_server\" or \"vllm\" (the kind of server every tier is)");
    }
  }
  const json::value* trace_path = shadow->if_contains("trace_path");
  if (out.rate > 0 && out.trace_path.empty() && (trace_path == nullptr || trace_path->is_string())) {
    v.Error("/shadow/trace_path", "required (a directory) when rate is above 0: the labelled steps are written there");
  }
}

}  // namespace quantclaw
