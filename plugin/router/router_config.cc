#include "router/router_config.h"

#include <boost/json.hpp>

#include "absl/status/status.h"

namespace quantclaw {

std::shared_ptr<const RouterConfig> ParseRouterConfig(std::string_view text, ConfigErrors* errors) {
  errors->clear();
  std::optional<boost::json::value> document = ParseConfigDocument(text, errors);
  if (!document) return nullptr;
  Validator v(errors);
  const boost::json::object* root = v.AsObject(
      *document, "", {"tiers", "reference_tier", "policy", "limits", "backend", "shadow", "$schema", "description"});
  if (root == nullptr) return nullptr;
  auto config = std::make_shared<RouterConfig>();
  // Tiers first: every other section may name them.
  ParseTiers(*root, v, config.get());
  ParsePolicyConfig(*root, *config, v, &config->policy);
  ParseLimits(*root, v, &config->limits);
  ParseBackendConfig(*root, v, &config->backend);
  ParseShadowConfig(*root, v, &config->shadow);
  if (!errors->empty()) return nullptr;
  return config;
}

absl::StatusOr<std::shared_ptr<const RouterConfig>> LoadRouterConfig(std::string_view json_text) {
  ConfigErrors errors;
  auto config = ParseRouterConfig(json_text, &errors);
  if (config) return config;
  return absl::InvalidArgumentError(JoinErrors(errors));
}

}  // namespace quantclaw
