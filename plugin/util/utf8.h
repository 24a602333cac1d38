// UTF-8, the one encoder and decoder: the QuantClaw rule detector (JavaScript string rules, patterns),
// the stream chunk scanner (strings, \u escapes), message decoding and the features' byte limits all
// read and write code points here, so they agree on what is valid (RFC 3629: no overlongs, no
// surrogates, nothing past U+10FFFF).
//
// Inline, because the chunk scanner calls the decoder on its hot path (every non-ASCII byte of every
// streamed event; see backend/chunk_reader.h).
#ifndef QUANTCLAW_PLUGIN_UTIL_UTF8_H_
#define QUANTCLAW_PLUGIN_UTIL_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace quantclaw {

inline bool IsUtf8Continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

struct DecodedCodePoint {
  char32_t code_point;
  size_t length;  // bytes consumed, at least 1
  bool valid;
};

// Decodes the code point at text[pos] (pos < text.size()). An invalid or truncated sequence decodes
// as U+FFFD and consumes its maximal valid prefix (at least one byte), the "maximal subpart" rule that
// TextDecoder and Node's Buffer#toString use: the QuantClaw plugin would have seen the same
// replacement characters had these bytes reached it.
inline DecodedCodePoint DecodeUtf8(std::string_view text, size_t pos) {
  const auto byte_at = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte_at(pos);
  if (lead < 0x80) return {lead, 1, true};
  size_t continuation_count = 0;
  char32_t code_point = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    continuation_count = 1;
    code_point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    continuation_count = 2;
    code_point = lead & 0x0F;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    continuation_count = 3;
    code_point = lead & 0x07;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // beyond U+10FFFF
  } else {
    return {0xFFFD, 1, false};
  }
  for (size_t i = 1; i <= continuation_count; ++i) {
    if (pos + i >= text.size()) return {0xFFFD, i, false};
    const unsigned char next = byte_at(pos + i);
    if (next < low || next > high) return {0xFFFD, i, false};
    low = 0x80;
    high = 0xBF;
    code_point = (code_point << 6) | (next & 0x3F);
  }
  return {code_point, continuation_count + 1, true};
}

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

inline bool IsValidUtf8(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const DecodedCodePoint decoded = DecodeUtf8(text, pos);
    if (!decoded.valid) return false;
    pos += decoded.length;
  }
  return true;
}

// Returns `text` if it is valid UTF-8, else a copy in `storage` with each invalid sequence replaced by
// U+FFFD (by DecodeUtf8's maximal-subpart rule).
std::string_view ReplaceInvalidUtf8(std::string_view text, std::string* storage);

// The start of the code point that ends just before `end` (0 < end; valid UTF-8 assumed).
inline size_t PreviousCodePointStart(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && IsUtf8Continuation(static_cast<unsigned char>(text[start]))) --start;
  return start;
}

// The first code point boundary at or after `pos` (text.size() if none).
inline size_t CodePointStartAtOrAfter(std::string_view text, size_t pos) {
  while (pos < text.size() && IsUtf8Continuation(static_cast<unsigned char>(text[pos]))) ++pos;
  return pos;
}

// The last code point boundary at or before `pos` (pos <= text.size()).
inline size_t CodePointStartAtOrBefore(std::string_view text, size_t pos) {
  while (pos > 0 && pos < text.size() && IsUtf8Continuation(static_cast<unsigned char>(text[pos]))) --pos;
  return pos;
}

// The first `max_bytes` of `text`, cut back so that no UTF-8 sequence is split.
inline std::string_view CutAtUtf8Boundary(std::string_view text, size_t max_bytes) {
  return text.size() <= max_bytes ? text : text.substr(0, CodePointStartAtOrBefore(text, max_bytes));
}

// `text` without a last code point that is cut short (a fixed buffer filled by snprintf, a byte cap):
// what is left is valid UTF-8 when `text` was valid up to the cut.
inline std::string_view DropTruncatedUtf8Tail(std::string_view text) {
  if (text.empty() || static_cast<unsigned char>(text.back()) < 0x80) return text;
  const size_t start = PreviousCodePointStart(text, text.size());
  return DecodeUtf8(text, start).length == text.size() - start && DecodeUtf8(text, start).valid
             ? text
             : text.substr(0, start);
}

// At most `max_bytes` of `text` for a message (a server's body or event quoted in an error): cut between
// characters, and any invalid bytes the server sent replaced by U+FFFD, so a host that decodes the
// message as UTF-8 always can.
inline std::string Utf8Excerpt(std::string_view text, size_t max_bytes) {
  std::string storage;
  std::string_view valid = ReplaceInvalidUtf8(CutAtUtf8Boundary(text, max_bytes), &storage);
  return std::string(valid);
}

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_UTIL_UTF8_H_
