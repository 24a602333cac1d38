// A problem found in a host config: where (a JSON pointer, RFC 6901) and why.
#ifndef QUANTCLAW_PLUGIN_CONFIG_CONFIG_ERROR_H_
#define QUANTCLAW_PLUGIN_CONFIG_CONFIG_ERROR_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

namespace quantclaw {

struct ConfigError {
  std::string pointer;  // e.g. "/tiers/1/base_url"; "" for the document root
  std::string reason;   // e.g. "unknown key \"bse_url\" (did you mean \"base_url\"?)"
};

using ConfigErrors = std::vector<ConfigError>;

// Appends a token to a JSON pointer, escaping '~' and '/' as RFC 6901 requires.
std::string JoinPointer(const std::string& pointer, std::string_view token);
std::string JoinPointer(const std::string& pointer, size_t index);

// What a JSON value is, for messages: "a string", "an array", "null", ...
std::string_view JsonKindName(const boost::json::value& value);

size_t EditDistance(std::string_view a, std::string_view b);

// " (did you mean \"x\"?)" when one candidate is close enough to `given` to be a likely typo, else "".
std::string DidYouMean(std::string_view given, const std::vector<std::string_view>& candidates);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_CONFIG_CONFIG_ERROR_H_
