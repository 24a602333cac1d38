// QuantClawDetect/<mode>: what one user message costs in QuantClaw mode, as a host pays it:
// qc_on_step with the message, then qc_choose_precision, over the 200 prompts of
// tests/data/quantclaw-prompts.txt with examples/configs/quantclaw-compat.json. The rules decide
// alone (the LLM judge is taken out of `detectors`), as the plugin's detectTaskTypeByRules does in
// tests/bench/plugin_detect_bench.sh, the other side of the comparison. 0: faithful, 1: improved.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "quantclaw/quantclaw.h"

#ifndef QC_SOURCE_DIR
#error "QC_SOURCE_DIR must name the source tree"
#endif

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  if (!file.good()) std::abort();
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

void ReplaceOnce(std::string* text, const std::string& from, const std::string& to) {
  const size_t at = text->find(from);
  if (at == std::string::npos) std::abort();
  text->replace(at, from.size(), to);
}

// The prompts as JSON string bodies: the file writes a line break as the two characters "\n".
std::vector<std::string> PromptsAsJson() {
  std::vector<std::string> prompts;
  std::istringstream lines(ReadFile(std::string(QC_SOURCE_DIR) + "/tests/data/quantclaw-prompts.txt"));
  for (std::string line; std::getline(lines, line);) {
    std::string escaped;
    for (char c : line) {
      if (c == '"') escaped += '\\';
      escaped += c;
    }
    prompts.push_back(escaped);
  }
  return prompts;
}

void QuantClawDetect(benchmark::State& state) {
  std::string config = ReadFile(std::string(QC_SOURCE_DIR) + "/examples/configs/quantclaw-compat.json");
  ReplaceOnce(&config, R"("ruleDetector",)", R"("ruleDetector")");
  ReplaceOnce(&config, R"("loadModelDetector")", "");
  if (state.range(0) == 1) ReplaceOnce(&config, R"("mode": "faithful")", R"("mode": "improved")");
  qc_router* router = nullptr;
  if (qc_router_new(config.data(), config.size(), &router) != QC_OK) std::abort();

  const std::vector<std::string> prompts = PromptsAsJson();
  std::vector<std::string> steps;
  for (const std::string& prompt : prompts) {
    steps.push_back(R"({"session_id":"detect","messages":[{"role":"user","content":")" + prompt +
                    R"("}]})");
  }
  const std::string request = R"({"session_id":"detect"})";
  const qc_bytes request_bytes{reinterpret_cast<const uint8_t*>(request.data()), request.size()};
  qc_decision decision;
  decision.struct_size = sizeof(decision);
  size_t next = 0;
  for (auto _ : state) {
    const std::string& step = steps[next];
    next = next + 1 == steps.size() ? 0 : next + 1;
    const qc_bytes step_bytes{reinterpret_cast<const uint8_t*>(step.data()), step.size()};
    if (qc_on_step(router, &step_bytes, QC_FORMAT_JSON) != QC_OK) std::abort();
    if (qc_choose_precision(router, &request_bytes, QC_FORMAT_JSON, &decision) != QC_OK) {
      std::abort();
    }
    benchmark::DoNotOptimize(decision.tier_index);
  }
  state.SetLabel(state.range(0) == 1 ? "improved" : "faithful");
  qc_router_free(router);
}
BENCHMARK(QuantClawDetect)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace
