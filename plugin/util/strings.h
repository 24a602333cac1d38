// Debian's Abseil is built with its own absl::string_view (not std::string_view), so its string
// functions do not take std::string_view. These adapters let the code inside speak std::string_view.
#ifndef QUANTCLAW_PLUGIN_UTIL_STRINGS_H_
#define QUANTCLAW_PLUGIN_UTIL_STRINGS_H_

#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "util/utf8.h"

namespace quantclaw {

inline absl::string_view ToAbsl(std::string_view text) { return absl::string_view(text.data(), text.size()); }
inline std::string_view FromAbsl(absl::string_view text) { return std::string_view(text.data(), text.size()); }

namespace internal {
template <typename T>
decltype(auto) AlphaNumArgument(const T& value) {
  if constexpr (std::is_same_v<T, std::string_view>) {
    return ToAbsl(value);
  } else {
    return (value);
  }
}
}  // namespace internal

template <typename... Args>
std::string StrCat(const Args&... args) {
  return absl::StrCat(internal::AlphaNumArgument(args)...);
}

template <typename... Args>
void StrAppend(std::string* out, const Args&... args) {
  absl::StrAppend(out, internal::AlphaNumArgument(args)...);
}

template <typename Container>
std::string StrJoin(const Container& items, std::string_view separator) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out.append(separator);
    out.append(std::string_view(item));
    first = false;
  }
  return out;
}

// Copies `from` into the fixed buffer `to` of `capacity` bytes (at least 1), cut to fit at a code point
// boundary (a host decoding the C struct's text as UTF-8 must never meet half a character), always
// NUL-terminated: the C structs' inline text fields.
inline void CopyTruncated(std::string_view from, char* to, size_t capacity) {
  from = DropTruncatedUtf8Tail(CutAtUtf8Boundary(from, capacity - 1));
  if (!from.empty()) std::memcpy(to, from.data(), from.size());
  to[from.size()] = '\0';
}

// `text` with every occurrence of `secret` replaced by "[redacted]", and so is a run of its first 8 or
// more bytes (all of it when shorter): the place where an excerpt of an echoed secret was cut off.
inline std::string RedactSecret(std::string_view text, std::string_view secret) {
  if (secret.empty()) return std::string(text);
  const size_t enough = secret.size() < 8 ? secret.size() : 8;
  std::string out;
  size_t at = 0;
  while (at < text.size()) {
    size_t start = text.find(secret.substr(0, enough), at);
    if (start == std::string_view::npos) break;
    size_t length = enough;
    while (length < secret.size() && start + length < text.size() && text[start + length] == secret[length]) ++length;
    out.append(text.substr(at, start - at));
    out.append("[redacted]");
    at = start + length;
  }
  out.append(text.substr(at));
  return out;
}

// "text" in double quotes, as messages name a value the user gave.
inline std::string Quote(std::string_view text) { return StrCat("\"", text, "\""); }

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_UTIL_STRINGS_H_
