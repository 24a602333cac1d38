// UTF-8 encoding of one code point, shared by the QuantClaw rule detector (lower-casing) and the stream
// chunk scanner (\u escapes).
#ifndef QUANTCLAW_PLUGIN_UTIL_UTF8_H_
#define QUANTCLAW_PLUGIN_UTIL_UTF8_H_

#include <string>

namespace quantclaw {

// Appends `code_point` (at most U+10FFFF; the callers decode or check it first) as UTF-8.
inline void AppendUtf8(char32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_UTIL_UTF8_H_
