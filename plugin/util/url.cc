#include "util/url.h"

#include <algorithm>

#include "util/strings.h"

namespace quantclaw {

std::string JoinUrl(std::string_view base, std::string_view path) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  return StrCat(base, path);
}

std::optional<std::string> UrlProblem(std::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "missing scheme (expected http:// or https://)";
  std::string_view scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return StrCat("unsupported scheme \"", scheme, "\" (expected http or https)");
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return "contains whitespace or a control character";
  }
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) {
    return "credentials in the URL; use api_key_env instead";
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return "unclosed IPv6 literal";
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return "unexpected text after the IPv6 literal";
      port = after.substr(1);
      if (port.empty()) return "empty port";
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return "empty port";
  }
  if (host.empty()) return "missing host";
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return StrCat("invalid port \"", port, "\"");
    }
    int number = std::stoi(std::string(port));
    if (number < 1 || number > 65535) return StrCat("port ", number, " is not in [1, 65535]");
  }
  if (host.front() != '[') {
    for (char c : host) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                c == '.' || c == '_';
      if (!ok) return StrCat("invalid character '", std::string(1, c), "' in host");
    }
  }
  return std::nullopt;
}

}  // namespace quantclaw
