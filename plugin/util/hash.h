// Hashes that are stable across processes and builds (unlike absl::Hash, which is seeded per process):
// trained weights over hashed features, and replays of a budget's tie draws, must mean the same tomorrow.
#ifndef QUANTCLAW_PLUGIN_UTIL_HASH_H_
#define QUANTCLAW_PLUGIN_UTIL_HASH_H_

#include <cstdint>
#include <string_view>

namespace quantclaw {

inline constexpr uint64_t kFnvOffset = 1469598103934665603ull;
inline constexpr uint64_t kFnvPrime = 1099511628211ull;

inline uint64_t Fnv1a(std::string_view text, uint64_t hash = kFnvOffset) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= kFnvPrime;
  }
  return hash;
}

// SplitMix64's finaliser: spreads nearby inputs (consecutive step indices) across the whole range.
inline uint64_t Mix64(uint64_t value) {
  value += 0x9E3779B97F4A7C15ull;
  value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9ull;
  value = (value ^ (value >> 27)) * 0x94D049BB133111EBull;
  return value ^ (value >> 31);
}

// A draw in [0, 1) from a hash.
inline double UnitInterval(uint64_t hash) { return double(hash >> 11) * 0x1.0p-53; }

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_UTIL_HASH_H_
