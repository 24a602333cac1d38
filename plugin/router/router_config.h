// The whole host config (JSON, shaped as in README.md "Configuration"), validated into an immutable
// RouterConfig: config/ reads the document, the tiers and the limits; each other section is parsed by
// its owner (policy/, backend/). Validation reports every problem at once, each with a JSON pointer.
#ifndef QUANTCLAW_PLUGIN_ROUTER_ROUTER_CONFIG_H_
#define QUANTCLAW_PLUGIN_ROUTER_ROUTER_CONFIG_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "backend/backend_config.h"
#include "backend/shadow_config.h"
#include "config/config.h"
#include "policy/policy.h"
#include "util/validator.h"

namespace quantclaw {

struct RouterConfig : TierTable {
  PolicyConfig policy;
  LimitsConfig limits;
  BackendConfig backend;
  ShadowConfig shadow;

  const QuantClawScorer* quantclaw_scorer() const { return policy.quantclaw_scorer(); }
};

// Parses and validates. On failure every problem is in `errors` and the result is null.
std::shared_ptr<const RouterConfig> ParseRouterConfig(std::string_view json, ConfigErrors* errors);

// The same, with the problems joined as "pointer: reason" lines in an InvalidArgument status.
absl::StatusOr<std::shared_ptr<const RouterConfig>> LoadRouterConfig(std::string_view json);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_ROUTER_ROUTER_CONFIG_H_
