// The QuantClaw plugin's LLM judge over HTTP: an OpenAI chat completion that names a task type, asked
// when the rules decline. Answers are cached by prompt hash for the configured TTL (failures briefly, so
// a judge that is down is not waited on every turn), in a bounded cache.
#ifndef QUANTCLAW_PLUGIN_BACKEND_JUDGE_CLIENT_H_
#define QUANTCLAW_PLUGIN_BACKEND_JUDGE_CLIENT_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "backend/http_client.h"
#include "policy/quantclaw_scorer.h"
#include "telemetry/metrics.h"

namespace quantclaw {

class HttpJudge final : public TaskTypeJudge {
 public:
  HttpJudge(HttpClient* http_client, RouterMetrics* metrics) : http_(http_client), metrics_(metrics) {}

  // Blocks for at most the judge's timeout_ms on a cache miss.
  std::string Classify(const JudgeConfig& judge, const TaskTypeDetector& detector, std::string_view prompt) override;

 private:
  struct Answer {
    std::string task_type;  // "" caches a failure briefly
    int64_t expires_ns = 0;
  };
  HttpClient* http_;
  RouterMetrics* metrics_;
  std::mutex mutex_;
  absl::flat_hash_map<uint64_t, Answer> cache_;  // by hash of prompt and judge model
};

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_BACKEND_JUDGE_CLIENT_H_
