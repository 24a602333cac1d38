// The host config (JSON, shaped as in README.md "Configuration"), validated into an immutable
// RouterConfig. Validation reports every problem at once, each with a JSON pointer and a reason.
#ifndef QUANTCLAW_PLUGIN_CONFIG_CONFIG_H_
#define QUANTCLAW_PLUGIN_CONFIG_CONFIG_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "util/validator.h"
#include "features/features.h"
#include "policy/task_types.h"

namespace quantclaw {

inline constexpr size_t kMaxTiers = 16;

struct TierConfig {
  std::string name;
  std::string format;  // "bf16", "fp8", "w4a16", "nvfp4", ...
  int bits = 16;       // precision rank on the ladder: from the format, or "bits" in config
  std::string base_url;
  std::string model;
  std::string api_key_env;  // the environment variable holding the API key; never the key itself
  double input_per_mtok = 0;
  double output_per_mtok = 0;
};

// A condition over the session's features; every key present must hold.
struct Condition {
  enum class Comparison : uint8_t { kGreater, kGreaterOrEqual, kLess, kLessOrEqual };
  struct NumericTest {
    NumericFeature feature;
    Comparison comparison;
    double value;
  };
  std::vector<NumericTest> numeric;
  std::vector<std::string> step_kinds;  // any of
  std::vector<std::string> last_tools;  // any of: the newest tool called
  std::vector<std::string> task_types;  // any of: the session's QuantClaw task type
  std::optional<bool> json_requested;
  std::optional<bool> tools_requested;
  std::optional<bool> last_tool_error;
};

struct ForceRule {
  Condition when;
  uint32_t tier = 0;
};

struct ScoreRule {
  Condition when;
  double score = 0;
};

// Scores a step by the rules that match it (the highest score wins); declines when none match and
// no default_score is set.
struct RulesScorer {
  std::vector<ScoreRule> rules;
  std::optional<double> default_score;
};

// The QuantClaw plugin's LLM judge: asked for the task type when the rules decline.
struct JudgeConfig {
  std::string url;      // the chat-completions URL derived from the plugin's "endpoint"
  std::string model;
  std::string api_key;  // the plugin's "apiKey" (its config carries the key itself)
  uint32_t cache_ttl_ms = 300000;
  uint32_t timeout_ms = 3000;  // after which the default task type applies
  std::string system_prompt;   // names every task type with its description
};

// QuantClaw's task types: the plugin's `quant` object, decided as its rule detector decides.
struct QuantClawScorer {
  std::shared_ptr<const TaskTypeDetector> detector;
  TaskTypeMode mode = TaskTypeMode::kImproved;
  // Tier serving each QuantClaw precision (index by Precision); -1 when none does (it escalates).
  std::array<int, kPrecisionCount> precision_tier = {-1, -1, -1};
  std::optional<JudgeConfig> judge;  // when "detectors" names a judge and "judge" has endpoint and model
};

using Scorer = std::variant<RulesScorer, QuantClawScorer>;

struct BudgetConfig {
  double high_fraction = 0.5;  // K: the fraction of scored steps that should reach the top tier
  uint32_t window = 1000;      // recent scores the quantile is taken over
  uint32_t warmup = 20;        // scores needed before the quantile replaces the fixed threshold
};

struct PhaseSplitConfig {
  uint64_t min_prompt_tokens = 8192;
  uint32_t prefill_tier = 0;
  uint32_t decode_tier = 0;
};

// Cache-aware switching: a long session moves to another tier only when the score clears the
// boundary by more than `hysteresis`, since that tier's prefix cache is cold for it.
struct GovernorConfig {
  uint64_t min_context_tokens = 4096;
  double hysteresis = 0.1;
};

struct PolicyConfig {
  std::vector<ForceRule> force;
  std::vector<Scorer> scorers;       // a chain: the first that does not decline decides
  std::vector<double> thresholds;    // ascending; one fewer than the ladder has tiers
  std::optional<BudgetConfig> budget;
  bool escalate_on_invalid_tool_call = true;
  std::optional<PhaseSplitConfig> phase_split;
  std::optional<GovernorConfig> governor;
  uint32_t default_tier = 0;         // when every scorer declines
};

struct LimitsConfig {
  uint32_t max_sessions = 10000;
  double session_idle_seconds = 3600;
  uint64_t max_message_bytes = 4u << 20;
};

// How quantclaw calls tiers itself (qc_complete).
struct BackendConfig {
  uint32_t connect_timeout_ms = 2000;
  uint32_t first_byte_timeout_ms = 60000;
  uint32_t total_timeout_ms = 600000;
  uint64_t max_response_bytes = 16u << 20;
  uint32_t retries = 2;               // per tier, only while nothing has reached the host
  uint32_t backoff_initial_ms = 100;  // full jitter: a uniform wait in [0, min(max, initial * 2^attempt)]
  uint32_t backoff_max_ms = 2000;
  uint32_t breaker_failures = 5;      // consecutive failed calls that open a tier's breaker
  uint32_t breaker_open_ms = 10000;   // how long it stays open before one call may try again
  bool failover = true;               // a failed or open tier hands the call to the next higher tier
};

struct RouterConfig {
  std::vector<TierConfig> tiers;
  uint32_t reference_tier = 0;
  std::vector<uint32_t> ladder;           // tier indices, lowest precision first
  std::vector<uint32_t> ladder_position;  // tier index -> position on the ladder
  PolicyConfig policy;
  LimitsConfig limits;
  BackendConfig backend;
  absl::flat_hash_map<std::string, uint32_t> tier_by_name;

  const QuantClawScorer* quantclaw_scorer() const;  // nullptr when the chain has none
  int FindTier(std::string_view name) const;        // -1 when absent
};

// Parses and validates. On failure every problem is in `errors` and the result is null.
std::shared_ptr<const RouterConfig> ParseRouterConfig(std::string_view json, ConfigErrors* errors);

// The same, with the problems joined as "pointer: reason" lines in an InvalidArgument status.
absl::StatusOr<std::shared_ptr<const RouterConfig>> LoadRouterConfig(std::string_view json);

// Bits of precision for a known format name ("bf16" -> 16, "nvfp4" -> 4); 0 when unknown.
int FormatBits(std::string_view format);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_CONFIG_CONFIG_H_
