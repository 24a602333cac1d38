// URLs of tiers and judges: joining an OpenAI-compatible base URL with an endpoint path, and checking
// a configured URL before libcurl is asked to reach it.
#ifndef QUANTCLAW_PLUGIN_UTIL_URL_H_
#define QUANTCLAW_PLUGIN_UTIL_URL_H_

#include <optional>
#include <string>
#include <string_view>

namespace quantclaw {

// `base` without its trailing slashes, then `path` ("/chat/completions"): users write base URLs both
// with and without the final slash.
std::string JoinUrl(std::string_view base, std::string_view path);

// What is wrong with an http(s)://host[:port][/path] URL, or nothing.
std::optional<std::string> UrlProblem(std::string_view url);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_UTIL_URL_H_
