#include "util/validator.h"

#include <cmath>

#include <boost/json.hpp>

#include "util/strings.h"

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

namespace json = boost::json;

void Validator::Error(const std::string& pointer, std::string reason) {
  errors_->push_back({pointer, std::move(reason)});
}

const json::object* Validator::AsObject(const json::value& value, const std::string& pointer,
                             std::initializer_list<std::string_view> allowed_keys) {
  const json::object* object = value.if_object();
  if (object == nullptr) {
    Error(pointer, StrCat("expected an object, got ", JsonKindName(value)));
    return nullptr;
  }
  for (const auto& [key, unused] : *object) {
    if (std::find(allowed_keys.begin(), allowed_keys.end(), std::string_view(key)) !=
        allowed_keys.end()) {
      continue;
    }
    std::string suggestion =
        DidYouMean(key, std::vector<std::string_view>(allowed_keys.begin(), allowed_keys.end()));
    std::string reason = StrCat("unknown key ", Quote(key));
    if (!suggestion.empty()) {
      reason += suggestion;
    } else {
      StrAppend(&reason, " (valid keys: ", StrJoin(allowed_keys, ", "), ")");
    }
    Error(JoinPointer(pointer, key), std::move(reason));
  }
  return object;
}

const json::array* Validator::AsArray(const json::value& value, const std::string& pointer) {
  const json::array* array = value.if_array();
  if (array == nullptr) Error(pointer, StrCat("expected an array, got ", JsonKindName(value)));
  return array;
}

std::optional<std::string> Validator::String(const json::object& object, std::string_view key,
                                  const std::string& pointer, bool required) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) {
    if (required) Error(JoinPointer(pointer, key), "required string is missing");
    return std::nullopt;
  }
  const json::string* text = value->if_string();
  if (text == nullptr) {
    Error(JoinPointer(pointer, key), StrCat("expected a string, got ", JsonKindName(*value)));
    return std::nullopt;
  }
  if (required && text->empty()) {
    Error(JoinPointer(pointer, key), "must not be empty");
    return std::nullopt;
  }
  return std::string(*text);
}

std::optional<double> Validator::Number(const json::object& object, std::string_view key,
                             const std::string& pointer, double min, double max, bool required) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) {
    if (required) Error(JoinPointer(pointer, key), "required number is missing");
    return std::nullopt;
  }
  std::optional<double> number;
  if (value->is_double()) number = value->get_double();
  if (value->is_int64()) number = static_cast<double>(value->get_int64());
  if (value->is_uint64()) number = static_cast<double>(value->get_uint64());
  if (!number) {
    Error(JoinPointer(pointer, key), StrCat("expected a number, got ", JsonKindName(*value)));
    return std::nullopt;
  }
  if (!std::isfinite(*number) || *number < min || *number > max) {
    Error(JoinPointer(pointer, key),
          StrCat("out of range: ", *number, " is not in [", min, ", ", max, "]"));
    return std::nullopt;
  }
  return number;
}

std::optional<uint64_t> Validator::Integer(const json::object& object, std::string_view key,
                                const std::string& pointer, uint64_t min, uint64_t max) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) return std::nullopt;
  std::optional<uint64_t> number;
  if (value->is_uint64()) number = value->get_uint64();
  if (value->is_int64() && value->get_int64() >= 0) number = static_cast<uint64_t>(value->get_int64());
  if (value->is_int64() && value->get_int64() < 0) {
    Error(JoinPointer(pointer, key), StrCat("out of range: ", value->get_int64(),
                                                   " is not in [", min, ", ", max, "]"));
    return std::nullopt;
  }
  if (!number) {
    Error(JoinPointer(pointer, key),
          StrCat("expected a whole number, got ", JsonKindName(*value)));
    return std::nullopt;
  }
  if (*number < min || *number > max) {
    Error(JoinPointer(pointer, key),
          StrCat("out of range: ", *number, " is not in [", min, ", ", max, "]"));
    return std::nullopt;
  }
  return number;
}

uint32_t Validator::Integer32(const json::object& object, std::string_view key, const std::string& pointer, uint32_t min,
                   uint32_t max, uint32_t fallback) {
  return static_cast<uint32_t>(Integer(object, key, pointer, min, max).value_or(fallback));
}

std::optional<bool> Validator::Bool(const json::object& object, std::string_view key,
                         const std::string& pointer) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_bool()) {
    Error(JoinPointer(pointer, key), StrCat("expected a boolean, got ", JsonKindName(*value)));
    return std::nullopt;
  }
  return value->get_bool();
}

std::vector<std::string> Validator::StringList(const json::value& value, const std::string& pointer) {
  std::vector<std::string> out;
  if (const json::string* text = value.if_string()) {
    out.emplace_back(*text);
  } else if (const json::array* array = value.if_array()) {
    for (size_t i = 0; i < array->size(); ++i) {
      if (const json::string* item = (*array)[i].if_string()) {
        out.emplace_back(*item);
      } else {
        Error(JoinPointer(pointer, i), StrCat("expected a string, got ", JsonKindName((*array)[i])));
      }
    }
    if (array->empty()) Error(pointer, "must name at least one value");
  } else {
    Error(pointer, StrCat("expected a string or an array of strings, got ", JsonKindName(value)));
  }
  return out;
}


std::string JoinErrors(const ConfigErrors& errors) {
  std::string message;
  for (const ConfigError& error : errors) {
    StrAppend(&message, message.empty() ? "" : "\n", error.pointer.empty() ? "(root)" : error.pointer, ": ",
              error.reason);
  }
  return message;
}

}  // namespace quantclaw
