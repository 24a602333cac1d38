#include "config/config_error.h"

#include <string>
#include <string_view>

namespace quantclaw {

std::string JoinPointer(const std::string& pointer, std::string_view token) {
  std::string joined;
  joined.reserve(pointer.size() + token.size() + 1);
  joined += pointer;
  joined += '/';
  for (char c : token) {
    // RFC 6901 section 3: '~' must be escaped first or "~1" in a key would read back as "/".
    if (c == '~') {
      joined += "~0";
    } else if (c == '/') {
      joined += "~1";
    } else {
      joined += c;
    }
  }
  return joined;
}

std::string JoinPointer(const std::string& pointer, size_t index) {
  return pointer + '/' + std::to_string(index);
}

}  // namespace quantclaw
