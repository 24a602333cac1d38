// The one clock for idle times, breakers and caches: monotonic, so a wall-clock jump neither expires
// sessions nor reopens breakers.
#ifndef QUANTCLAW_PLUGIN_UTIL_CLOCK_H_
#define QUANTCLAW_PLUGIN_UTIL_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace quantclaw {

inline int64_t MonotonicNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_UTIL_CLOCK_H_
