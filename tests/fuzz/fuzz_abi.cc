// A fuzz target over the whole C ABI: whatever the bytes, every call returns a status and the process
// survives. The first byte picks the call and the format (odd: protobuf binary); the rest is its input:
// (byte >> 1) % 7 = 0 qc_router_new, 1 qc_on_step, 2 qc_choose_precision, 3 qc_report_outcome,
// 4 a step then a decision, 5 qc_complete, 6 qc_router_reload.
//   clang: libFuzzer drives it (QUANTCLAW_BUILD_FUZZ=ON, tests/fuzz/README.md).
//   gcc:   quantclaw_fuzz_replay runs the corpus and seeded mutations of it as a ctest.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "quantclaw/quantclaw.h"

namespace {

const char kConfig[] = R"({
  "tiers": [
    {"name": "bf16", "format": "bf16", "base_url": "http://127.0.0.1:1/v1", "model": "m"},
    {"name": "w4", "format": "w4a16", "base_url": "http://127.0.0.1:1/v1", "model": "m"}],
  "policy": {
    "force": [{"when": {"step_kind": "search"}, "tier": "bf16"}],
    "scorer": [
      {"kind": "quantclaw", "quant": {"taskTypes": [
        {"id": "coding", "precision": "16bit", "keywords": ["code", "debug"], "patterns": ["(?=.*bug)(?=.*fix).*"]},
        {"id": "chat", "precision": "4bit", "keywords": ["hello"]},
        {"id": "standard", "precision": "16bit"}], "defaultTaskType": "standard",
        "targets": {"4bit": {"provider": "p", "model": "m"}, "16bit": {"provider": "p", "model": "m"}}}},
      {"kind": "rules", "default_score": 0.3, "rules": [{"when": {"recent_tool_errors_ge": 1}, "score": 0.9}]}],
    "budget": {"high_fraction": 0.3, "window": 50, "warmup": 5}},
  "limits": {"max_sessions": 64, "max_message_bytes": 65536},
  "backend": {"connect_timeout_ms": 200, "first_byte_timeout_ms": 200, "total_timeout_ms": 500}
})";

qc_router* Router() {
  static qc_router* router = [] {
    qc_router* created = nullptr;
    if (qc_router_new(kConfig, sizeof(kConfig) - 1, &created) != QC_OK) {
      std::fprintf(stderr, "fuzz config rejected: %s\n", qc_last_error());
      std::abort();
    }
    return created;
  }();
  return router;
}

void Check(int32_t status) {
  // A status outside the documented set would be a bug; so would an empty message on failure.
  if (status < QC_OK || status > QC_ERR_UPSTREAM) std::abort();
  if (status != QC_OK && qc_last_error()[0] == '\0') std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  qc_bytes input = {data + 1, size - 1};
  const uint32_t format = (selector & 1) ? QC_FORMAT_PROTOBUF : QC_FORMAT_JSON;
  qc_router* router = Router();
  switch ((selector >> 1) % 7) {
    case 0: {
      qc_router* fresh = nullptr;
      int32_t status = qc_router_new(reinterpret_cast<const char*>(input.data), input.size, &fresh);
      Check(status);
      if (status == QC_OK) Check(qc_router_free(fresh));
      break;
    }
    case 1:
      Check(qc_on_step(router, &input, format));
      break;
    case 2: {
      qc_decision decision;
      decision.struct_size = sizeof(decision);
      Check(qc_choose_precision(router, &input, format, &decision));
      break;
    }
    case 3:
      Check(qc_report_outcome(router, &input, format));
      break;
    case 4: {
      // A step, then a decision for the session it names when it parsed.
      int32_t status = qc_on_step(router, &input, format);
      Check(status);
      static const char kRequest[] = R"({"session_id":"fz"})";
      qc_bytes request = {reinterpret_cast<const uint8_t*>(kRequest), sizeof(kRequest) - 1};
      qc_decision decision;
      decision.struct_size = sizeof(decision);
      Check(qc_choose_precision(router, &request, QC_FORMAT_JSON, &decision));
      break;
    }
    case 5: {
      // A completion whose request decodes reaches a tier that refuses at once (nothing listens on
      // the config's ports): decoding, the step it makes and the error path are what is fuzzed.
      qc_buffer response = {sizeof(qc_buffer), 0, nullptr, 0};
      int32_t status = qc_complete(router, &input, format, nullptr, nullptr, &response);
      Check(status);
      qc_buffer_free(&response);
      break;
    }
    case 6: {
      // A reload of a router of its own (the shared one keeps the config the other calls expect): a
      // refused config leaves the old one in place, an accepted one takes over.
      static qc_router* reloaded = [] {
        qc_router* created = nullptr;
        if (qc_router_new(kConfig, sizeof(kConfig) - 1, &created) != QC_OK) std::abort();
        return created;
      }();
      Check(qc_router_reload(reloaded, reinterpret_cast<const char*>(input.data), input.size));
      break;
    }
  }
  return 0;
}
