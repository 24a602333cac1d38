// The host config's document and the sections every other folder builds on: the tiers (with their
// ladder) and the limits. Other sections belong to their owners (policy/; backend/: /backend, /shadow), which
// parse them with the same Validator; router/router_config.h puts the whole config together.
#ifndef QUANTCLAW_PLUGIN_CONFIG_CONFIG_H_
#define QUANTCLAW_PLUGIN_CONFIG_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "absl/container/flat_hash_map.h"
#include "util/validator.h"

namespace quantclaw {

inline constexpr size_t kMaxTiers = 16;
inline constexpr size_t kMaxTierNameBytes = 63;  // qc_decision.tier_name holds 64 with the NUL

// How a tier's KV cache can move to another tier (backend/handoff.h does it). Tiers hand off only within
// one group: same model architecture, same KV layout, and for llama_slots one slot folder both servers
// read and write (llama-server --slot-save-path).
enum class HandoffKind : uint8_t {
  kNone,
  kLlamaSlots,   // llama-server: POST /slots/{id}?action=save on one server, ?action=restore on the other
  kVllmDisagg,   // vLLM disaggregated prefill: kv_transfer_params from the prefill answer into the decode call
};

struct TierHandoff {
  HandoffKind kind = HandoffKind::kNone;
  std::string group;     // tiers of one group hand off to each other
  std::string slot_dir;  // llama_slots: the folder given to --slot-save-path, as this process sees it
  uint32_t slots = 1;    // llama_slots: the server's --parallel; a session's calls go to one of them
  // Whether a switching session may carry a cache computed on a lower-precision tier into this one. A
  // carried KV cache keeps the error of the precision that computed it, so a reference tier that must
  // decode exactly says false: a session moving up to it is prefilled there cold. (The phase split is
  // configured on purpose and ignores this.)
  bool carry_from_lower = true;
};

struct TierConfig {
  std::string name;
  std::string format;  // "bf16", "fp8", "w4a16", "nvfp4", ...
  int bits = 16;       // precision rank on the ladder: from the format, or "bits" in config
  std::string base_url;
  std::string model;
  std::string api_key_env;  // the environment variable holding the API key; never the key itself
  std::string ca_file;      // PEM CA certificates trusted for an https tier instead of the system's
  double input_per_mtok = 0;
  double output_per_mtok = 0;
  TierHandoff handoff;
};

// The tiers, their ladder (lowest precision first) and the reference tier.
struct TierTable {
  std::vector<TierConfig> tiers;
  uint32_t reference_tier = 0;
  std::vector<uint32_t> ladder;           // tier indices, lowest precision first
  std::vector<uint32_t> ladder_position;  // tier index -> position on the ladder
  absl::flat_hash_map<std::string, uint32_t> tier_by_name;

  int FindTier(std::string_view name) const;  // -1 when absent
  // Whether `from`'s KV cache can move to `to`: both declare a hand-off of one kind in one group.
  bool CanHandOff(uint32_t from, uint32_t to) const;
  // Whether a switching session's cache moves from `from` to `to`: CanHandOff, and `to` takes caches from
  // a lower precision or `from` is not lower.
  bool CanCarry(uint32_t from, uint32_t to) const;
};

struct LimitsConfig {
  uint32_t max_sessions = 10000;
  double session_idle_seconds = 3600;
  uint64_t max_message_bytes = 4u << 20;
};

// The JSON document (nesting at most 64 deep, nothing after it), or nothing with the problem in `errors`.
std::optional<boost::json::value> ParseConfigDocument(std::string_view text, ConfigErrors* errors);

// /tiers (the ladder built, the reference tier the highest precision) and /reference_tier.
void ParseTiers(const boost::json::object& root, Validator& v, TierTable* tiers);
// /limits.
void ParseLimits(const boost::json::object& root, Validator& v, LimitsConfig* limits);

// The tier a name at `pointer` refers to; a name that is no tier is reported.
std::optional<uint32_t> TierReference(const TierTable& tiers, const boost::json::value& value,
                                      const std::string& pointer, Validator& v);
// The same for object[key]; a missing key is reported when `required`.
std::optional<uint32_t> TierKey(const TierTable& tiers, const boost::json::object& object, std::string_view key,
                                const std::string& pointer, bool required, Validator& v);

// Bits of precision for a known format name ("bf16" -> 16, "nvfp4" -> 4); 0 when unknown.
int FormatBits(std::string_view format);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_CONFIG_CONFIG_H_
