// The main() of a gtest binary that runs against real llama.cpp tiers: finds llama-server and the
// models, starts the q4_0, q8_0 and f16 tiers, runs the tests, and stops the tiers. A machine without
// them skips (exit 77, CTest's SKIP_RETURN_CODE), or fails when QUANTCLAW_REQUIRE_REAL_TIERS is set.
#ifndef QUANTCLAW_TESTS_TIERS_REAL_TIERS_MAIN_H_
#define QUANTCLAW_TESTS_TIERS_REAL_TIERS_MAIN_H_

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "llama_tiers.h"

namespace quantclaw_test {

struct RealTiers {
  std::unique_ptr<LlamaServer> q4_0, q8_0, f16;
  std::string server_binary, models;
};

inline constexpr int kExitSkipped = 77;

// A config's tier entry for one of the started tiers ("tiny-<name>" is the alias its server answers to).
inline std::string TierJson(const std::string& name, const std::string& format, const std::string& base_url) {
  return R"({"name":")" + name + R"(","format":")" + format + R"(","model":"tiny-)" + name + R"(","base_url":")" +
         base_url + R"("})";
}

// Runs the tests with `*tiers` pointing at the started tiers (null again afterwards).
inline int RunWithRealTiers(int argc, char** argv, const char* tiers_script, RealTiers** tiers) {
  testing::InitGoogleTest(&argc, argv);
  const bool required = std::getenv("QUANTCLAW_REQUIRE_REAL_TIERS") != nullptr;
  LlamaPaths paths = FindLlama(tiers_script);
  if (!paths.error.empty()) {
    std::fprintf(stderr, "%s: %s\n", required ? "FAILED" : "SKIPPED (real tiers unavailable)", paths.error.c_str());
    return required ? 1 : kExitSkipped;
  }
  RealTiers started;
  started.server_binary = paths.server;
  started.models = paths.models;
  started.q4_0 = std::make_unique<LlamaServer>(paths.server, paths.models + "/tiny-q4_0.gguf", "tiny-q4_0");
  started.q8_0 = std::make_unique<LlamaServer>(paths.server, paths.models + "/tiny-q8_0.gguf", "tiny-q8_0");
  started.f16 = std::make_unique<LlamaServer>(paths.server, paths.models + "/tiny-f16.gguf", "tiny-f16");
  for (LlamaServer* server : {started.q4_0.get(), started.q8_0.get(), started.f16.get()}) {
    if (!server->Start()) {
      std::fprintf(stderr, "FAILED: %s\n", server->error().c_str());
      return 1;
    }
  }
  *tiers = &started;
  const int result = RUN_ALL_TESTS();
  *tiers = nullptr;
  return result;
}

}  // namespace quantclaw_test

#endif  // QUANTCLAW_TESTS_TIERS_REAL_TIERS_MAIN_H_
