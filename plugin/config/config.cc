#include "config/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <boost/json.hpp>

#include "util/strings.h"
#include "util/url.h"

namespace quantclaw {
namespace {

namespace json = boost::json;

// A tier name crosses the C ABI in qc_decision.tier_name (64 bytes with its NUL) and labels metrics:
// short, printable, so that no name is cut and no two names collide.
std::optional<std::string> TierNameProblem(std::string_view name) {
  if (name.size() > kMaxTierNameBytes) {
    return StrCat("a tier name is at most ", kMaxTierNameBytes, " bytes (qc_decision.tier_name), got ", name.size());
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7F) return std::string("a tier name may not hold control characters (U+0000 included)");
  }
  return std::nullopt;
}

// /tiers/i/handoff: {"kind": "llama_slots", "group": "g1", "slot_dir": "/srv/slots", "slots": 2}
// or {"kind": "vllm_disagg", "group": "g1"}; either with "carry_from_lower": false.
void ParseHandoff(const json::value& value, const std::string& pointer, Validator& v, TierHandoff* out) {
  const json::object* object = v.AsObject(value, pointer, {"kind", "group", "slot_dir", "slots", "carry_from_lower"});
  if (object == nullptr) return;
  const std::string kind = v.String(*object, "kind", pointer, true).value_or("");
  if (kind == "llama_slots") {
    out->kind = HandoffKind::kLlamaSlots;
  } else if (kind == "vllm_disagg") {
    out->kind = HandoffKind::kVllmDisagg;
  } else if (object->contains("kind")) {
    v.Error(JoinPointer(pointer, "kind"), StrCat("unknown hand-off kind ", Quote(kind), " (known: llama_slots, vllm_disagg)"));
  }
  out->group = v.String(*object, "group", pointer, true).value_or("");
  out->slots = v.Integer32(*object, "slots", pointer, 1, 1024, out->slots);
  out->carry_from_lower = v.Bool(*object, "carry_from_lower", pointer).value_or(true);
  if (out->kind == HandoffKind::kLlamaSlots) {
    // Needed to delete the files once restored: llama-server has no request that removes one.
    out->slot_dir = v.String(*object, "slot_dir", pointer, true).value_or("");
    std::error_code ec;
    if (!out->slot_dir.empty() && !std::filesystem::is_directory(out->slot_dir, ec)) {
      v.Error(JoinPointer(pointer, "slot_dir"), StrCat("not a folder: ", Quote(out->slot_dir),
                                                       " (the folder given to llama-server --slot-save-path)"));
    }
  } else if (out->kind == HandoffKind::kVllmDisagg && object->contains("slot_dir")) {
    v.Error(JoinPointer(pointer, "slot_dir"), "only a llama_slots hand-off has a slot folder");
  }
}

// Tiers of one group must agree on how they hand off: one kind, and for llama_slots one slot folder.
void CheckHandoffGroups(const TierTable& table, Validator& v) {
  for (size_t i = 0; i < table.tiers.size(); ++i) {
    const TierHandoff& handoff = table.tiers[i].handoff;
    if (handoff.kind == HandoffKind::kNone) continue;
    for (size_t j = 0; j < i; ++j) {
      const TierHandoff& earlier = table.tiers[j].handoff;
      if (earlier.kind == HandoffKind::kNone || earlier.group != handoff.group) continue;
      const std::string pointer = JoinPointer(JoinPointer("/tiers", i), "handoff");
      if (earlier.kind != handoff.kind) {
        v.Error(JoinPointer(pointer, "kind"), StrCat("group ", Quote(handoff.group), " mixes hand-off kinds (/tiers/", j,
                                                     "/handoff/kind differs); one group, one kind"));
      } else if (earlier.slot_dir != handoff.slot_dir) {
        v.Error(JoinPointer(pointer, "slot_dir"),
                StrCat("group ", Quote(handoff.group), " has two slot folders (/tiers/", j,
                       "/handoff/slot_dir is ", Quote(earlier.slot_dir), "); the servers of a group share one"));
      }
      break;
    }
  }
}

void ParseTierList(const json::object& root, Validator& v, TierTable* table) {
  TierTable& config = *table;
  const json::value* tiers_value = root.if_contains("tiers");
  if (tiers_value == nullptr) {
    v.Error("/tiers", "required array of tiers is missing");
    return;
  }
  const json::array* tiers = v.AsArray(*tiers_value, "/tiers");
  if (tiers == nullptr) return;
  if (tiers->empty()) v.Error("/tiers", "must hold at least one tier");
  if (tiers->size() > kMaxTiers) {
    v.Error("/tiers", StrCat("at most ", kMaxTiers, " tiers, got ", tiers->size()));
    return;
  }
  for (size_t i = 0; i < tiers->size(); ++i) {
    std::string pointer = JoinPointer("/tiers", i);
    const json::object* object = v.AsObject(
        (*tiers)[i], pointer,
        {"name", "format", "bits", "base_url", "model", "api_key_env", "ca_file", "cost", "description", "handoff"});
    TierConfig tier;
    if (object != nullptr) {
      tier.name = v.String(*object, "name", pointer, true).value_or("");
      if (auto problem = TierNameProblem(tier.name)) {
        v.Error(JoinPointer(pointer, "name"), *problem);
        tier.name.clear();  // neither registered nor compared with the others
      }
      tier.format = v.String(*object, "format", pointer, true).value_or("");
      tier.base_url = v.String(*object, "base_url", pointer, true).value_or("");
      tier.model = v.String(*object, "model", pointer, true).value_or("");
      tier.api_key_env = v.String(*object, "api_key_env", pointer, false).value_or("");
      tier.ca_file = v.String(*object, "ca_file", pointer, false).value_or("");
      if (!tier.ca_file.empty()) {
        // Checked now: a missing file would otherwise show only as every call failing its TLS handshake.
        std::error_code ec;
        std::ifstream ca(tier.ca_file);
        if (!std::filesystem::is_regular_file(tier.ca_file, ec) || !ca.good()) {
          v.Error(JoinPointer(pointer, "ca_file"), StrCat("cannot read the CA file ", Quote(tier.ca_file)));
        }
      }
      v.String(*object, "description", pointer, false);
      std::optional<uint64_t> bits = v.Integer(*object, "bits", pointer, 1, 64);
      tier.bits = bits ? static_cast<int>(*bits) : FormatBits(tier.format);
      if (!bits && !tier.format.empty() && tier.bits == 0) {
        v.Error(JoinPointer(pointer, "format"),
                StrCat("unknown precision format ", Quote(tier.format),
                             " (known: fp32, bf16, fp16, fp8, int8, w8a8, mxfp8, hif8, q8_0, int4, "
                             "w4a16, w4a8, awq, gptq, nvfp4, mxfp4, hif4, q4_0, q4_k_m, int3, "
                             "w3a16); or give \"bits\""));
      }
      if (!tier.base_url.empty()) {
        if (auto problem = UrlProblem(tier.base_url)) {
          v.Error(JoinPointer(pointer, "base_url"), StrCat("malformed URL: ", *problem));
        }
      }
      if (!tier.api_key_env.empty()) {
        bool ok = std::all_of(tier.api_key_env.begin(), tier.api_key_env.end(), [](char c) {
          return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        }) && !(tier.api_key_env[0] >= '0' && tier.api_key_env[0] <= '9');
        if (!ok) {
          v.Error(JoinPointer(pointer, "api_key_env"),
                  "not an environment variable name (letters, digits, _; the key itself never "
                  "goes in config)");
        }
      }
      if (const json::value* cost = object->if_contains("cost")) {
        std::string cost_pointer = JoinPointer(pointer, "cost");
        if (const json::object* cost_object =
                v.AsObject(*cost, cost_pointer, {"input_per_mtok", "output_per_mtok"})) {
          tier.input_per_mtok =
              v.Number(*cost_object, "input_per_mtok", cost_pointer, 0, 1e9, false).value_or(0);
          tier.output_per_mtok =
              v.Number(*cost_object, "output_per_mtok", cost_pointer, 0, 1e9, false).value_or(0);
        }
      }
      if (const json::value* handoff = object->if_contains("handoff")) {
        ParseHandoff(*handoff, JoinPointer(pointer, "handoff"), v, &tier.handoff);
      }
      if (!tier.name.empty()) {
        auto [it, inserted] = config.tier_by_name.emplace(tier.name, static_cast<uint32_t>(i));
        if (!inserted) {
          v.Error(JoinPointer(pointer, "name"),
                  StrCat("duplicate tier name ", Quote(tier.name), " (also /tiers/",
                               it->second, "/name)"));
        }
      }
    }
    config.tiers.push_back(std::move(tier));
  }
}

void BuildLadder(TierTable* table) {
  TierTable& config = *table;
  for (uint32_t i = 0; i < config.tiers.size(); ++i) config.ladder.push_back(i);
  std::stable_sort(config.ladder.begin(), config.ladder.end(), [&config](uint32_t a, uint32_t b) {
    return config.tiers[a].bits < config.tiers[b].bits;
  });
  config.ladder_position.assign(config.tiers.size(), 0);
  for (uint32_t position = 0; position < config.ladder.size(); ++position) {
    config.ladder_position[config.ladder[position]] = position;
  }
}

}  // namespace

std::optional<json::value> ParseConfigDocument(std::string_view text, ConfigErrors* errors) {
  json::parse_options options;
  options.max_depth = 64;
  json::stream_parser stream(json::storage_ptr(), options);
  boost::system::error_code ec;
  size_t consumed = stream.write_some(text.data(), text.size(), ec);
  if (!ec && consumed != text.size()) {
    errors->push_back({"", StrCat("unexpected text after the JSON document at byte ", consumed)});
    return std::nullopt;
  }
  if (!ec) stream.finish(ec);
  if (ec) {
    errors->push_back({"", StrCat("invalid JSON at byte ", consumed, ": ", ec.message())});
    return std::nullopt;
  }
  return stream.release();
}

void ParseTiers(const json::object& root, Validator& v, TierTable* tiers) {
  ParseTierList(root, v, tiers);
  CheckHandoffGroups(*tiers, v);
  BuildLadder(tiers);
  if (!tiers->tiers.empty()) tiers->reference_tier = tiers->ladder.back();
  if (auto reference = TierKey(*tiers, root, "reference_tier", "", false, v)) tiers->reference_tier = *reference;
}

std::optional<uint32_t> TierReference(const TierTable& config, const json::value& value, const std::string& pointer,
                                      Validator& v) {
  const json::string* name = value.if_string();
  if (name == nullptr) {
    v.Error(pointer, StrCat("expected a tier name, got ", JsonKindName(value)));
    return std::nullopt;
  }
  auto it = config.tier_by_name.find(ToAbsl(std::string_view(*name)));
  if (it == config.tier_by_name.end()) {
    std::vector<std::string_view> names;
    for (const auto& tier : config.tiers) {
      if (!tier.name.empty() && std::find(names.begin(), names.end(), tier.name) == names.end()) {
        names.push_back(tier.name);
      }
    }
    v.Error(pointer, StrCat("no tier named ", Quote(*name), " (tiers: ",
                                  StrJoin(names, ", "), ")"));
    return std::nullopt;
  }
  return it->second;
}

std::optional<uint32_t> TierKey(const TierTable& config, const json::object& object, std::string_view key,
                                const std::string& pointer, bool required, Validator& v) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) {
    if (required) v.Error(JoinPointer(pointer, key), "required tier name is missing");
    return std::nullopt;
  }
  return TierReference(config, *value, JoinPointer(pointer, key), v);
}

void ParseLimits(const json::object& root, Validator& v, LimitsConfig* out) {
  const json::value* limits_value = root.if_contains("limits");
  if (limits_value == nullptr) return;
  const json::object* limits = v.AsObject(*limits_value, "/limits",
                                          {"max_sessions", "session_idle_seconds", "max_message_bytes"});
  if (limits == nullptr) return;
  out->max_sessions = static_cast<uint32_t>(
      v.Integer(*limits, "max_sessions", "/limits", 1, 10'000'000).value_or(out->max_sessions));
  out->session_idle_seconds =
      v.Number(*limits, "session_idle_seconds", "/limits", 1, 30.0 * 86400, false)
          .value_or(out->session_idle_seconds);
  out->max_message_bytes =
      v.Integer(*limits, "max_message_bytes", "/limits", 1024, uint64_t(1) << 30)
          .value_or(out->max_message_bytes);
}

int FormatBits(std::string_view format) {
  static const std::pair<std::string_view, int> kFormats[] = {
      {"fp32", 32}, {"f32", 32},   {"bf16", 16},   {"fp16", 16},  {"f16", 16},   {"fp8", 8},
      {"fp8_e4m3", 8}, {"fp8_e5m2", 8}, {"int8", 8}, {"w8a8", 8},  {"w8a16", 8}, {"mxfp8", 8},
      {"hif8", 8},  {"q8_0", 8},   {"int4", 4},    {"w4a16", 4},  {"w4a8", 4},   {"awq", 4},
      {"gptq", 4},  {"nvfp4", 4},  {"mxfp4", 4},   {"hif4", 4},   {"q4_0", 4},   {"q4_k_m", 4},
      {"int3", 3},  {"w3a16", 3},  {"q3_k", 3}};
  for (const auto& [name, bits] : kFormats) {
    if (name.size() == format.size() &&
        std::equal(name.begin(), name.end(), format.begin(), [](char a, char b) {
          return a == ((b >= 'A' && b <= 'Z') ? char(b - 'A' + 'a') : b);
        })) {
      return bits;
    }
  }
  return 0;
}

bool TierTable::CanHandOff(uint32_t from, uint32_t to) const {
  if (from >= tiers.size() || to >= tiers.size() || from == to) return false;
  const TierHandoff& a = tiers[from].handoff;
  const TierHandoff& b = tiers[to].handoff;
  return a.kind != HandoffKind::kNone && a.kind == b.kind && a.group == b.group;
}

bool TierTable::CanCarry(uint32_t from, uint32_t to) const {
  return CanHandOff(from, to) && (tiers[to].handoff.carry_from_lower || ladder_position[from] >= ladder_position[to]);
}

int TierTable::FindTier(std::string_view name) const {
  auto it = tier_by_name.find(ToAbsl(name));
  return it == tier_by_name.end() ? -1 : static_cast<int>(it->second);
}

}  // namespace quantclaw
