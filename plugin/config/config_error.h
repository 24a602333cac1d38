// A problem found in a host config: where (a JSON pointer, RFC 6901) and why.
#ifndef QUANTCLAW_PLUGIN_CONFIG_CONFIG_ERROR_H_
#define QUANTCLAW_PLUGIN_CONFIG_CONFIG_ERROR_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace quantclaw {

struct ConfigError {
  std::string pointer;  // e.g. "/tiers/1/base_url"; "" for the document root
  std::string reason;   // e.g. "unknown key \"bse_url\" (did you mean \"base_url\"?)"
};

using ConfigErrors = std::vector<ConfigError>;

// Appends a token to a JSON pointer, escaping '~' and '/' as RFC 6901 requires.
std::string JoinPointer(const std::string& pointer, std::string_view token);
std::string JoinPointer(const std::string& pointer, size_t index);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_CONFIG_CONFIG_ERROR_H_
