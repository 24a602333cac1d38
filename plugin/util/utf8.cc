#include "util/utf8.h"

namespace quantclaw {

std::string_view ReplaceInvalidUtf8(std::string_view text, std::string* storage) {
  size_t pos = 0;
  while (pos < text.size()) {
    const DecodedCodePoint decoded = DecodeUtf8(text, pos);
    if (!decoded.valid) break;
    pos += decoded.length;
  }
  if (pos == text.size()) return text;
  storage->assign(text.substr(0, pos));
  while (pos < text.size()) {
    const DecodedCodePoint decoded = DecodeUtf8(text, pos);
    AppendUtf8(decoded.code_point, storage);
    pos += decoded.length;
  }
  return *storage;
}

}  // namespace quantclaw
