#include "config/config_error.h"

#include <boost/json/value.hpp>

#include <algorithm>
#include <cstdint>
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

std::string_view JsonKindName(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return "a boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_: return "a number";
    case boost::json::kind::string: return "a string";
    case boost::json::kind::array: return "an array";
    case boost::json::kind::object: return "an object";
  }
  return "a value";
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string DidYouMean(std::string_view given, const std::vector<std::string_view>& candidates) {
  std::string_view nearest;
  size_t best = SIZE_MAX;
  for (std::string_view candidate : candidates) {
    const size_t distance = EditDistance(given, candidate);
    if (distance < best) {
      best = distance;
      nearest = candidate;
    }
  }
  // A third of the name (at least two edits) is about where a typo stops looking like one.
  if (nearest.empty() || best > std::max<size_t>(2, nearest.size() / 3)) return "";
  return " (did you mean \"" + std::string(nearest) + "\"?)";
}

}  // namespace quantclaw
