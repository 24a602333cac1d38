// How quantclaw calls tiers itself (qc_complete): timeouts, the response cap, retries with backoff,
// circuit breakers and failover. The /backend section of the config.
#ifndef QUANTCLAW_PLUGIN_BACKEND_BACKEND_CONFIG_H_
#define QUANTCLAW_PLUGIN_BACKEND_BACKEND_CONFIG_H_

#include <cstdint>

#include <boost/json/value.hpp>

#include "util/validator.h"

namespace quantclaw {

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

// /backend.
void ParseBackendConfig(const boost::json::object& root, Validator& v, BackendConfig* config);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_BACKEND_BACKEND_CONFIG_H_
