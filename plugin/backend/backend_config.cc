#include "backend/backend_config.h"

#include <boost/json.hpp>

namespace quantclaw {

namespace json = boost::json;

void ParseBackendConfig(const json::object& root, Validator& v, BackendConfig* config) {
  const json::value* backend_value = root.if_contains("backend");
  if (backend_value == nullptr) return;
  const json::object* backend = v.AsObject(
      *backend_value, "/backend",
      {"connect_timeout_ms", "first_byte_timeout_ms", "total_timeout_ms", "max_response_bytes", "retries",
       "backoff_initial_ms", "backoff_max_ms", "breaker_failures", "breaker_open_ms", "failover"});
  if (backend == nullptr) return;
  BackendConfig& out = *config;
  out.connect_timeout_ms = v.Integer32(*backend, "connect_timeout_ms", "/backend", 1, 600000, out.connect_timeout_ms);
  out.first_byte_timeout_ms = v.Integer32(*backend, "first_byte_timeout_ms", "/backend", 1, 3600000, out.first_byte_timeout_ms);
  out.total_timeout_ms = v.Integer32(*backend, "total_timeout_ms", "/backend", 1, 86400000, out.total_timeout_ms);
  out.max_response_bytes =
      v.Integer(*backend, "max_response_bytes", "/backend", 1024, uint64_t(1) << 32).value_or(out.max_response_bytes);
  out.retries = v.Integer32(*backend, "retries", "/backend", 0, 10, out.retries);
  out.backoff_initial_ms = v.Integer32(*backend, "backoff_initial_ms", "/backend", 0, 60000, out.backoff_initial_ms);
  out.backoff_max_ms = v.Integer32(*backend, "backoff_max_ms", "/backend", 0, 600000, out.backoff_max_ms);
  out.breaker_failures = v.Integer32(*backend, "breaker_failures", "/backend", 1, 1000, out.breaker_failures);
  out.breaker_open_ms = v.Integer32(*backend, "breaker_open_ms", "/backend", 1, 3600000, out.breaker_open_ms);
  out.failover = v.Bool(*backend, "failover", "/backend").value_or(out.failover);
}

}  // namespace quantclaw
