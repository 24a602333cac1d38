#include "util/utf8.h"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace quantclaw {
namespace {

TEST(Utf8Test, DecodesEachLength) {
  const std::string_view text = "a\u00e9\u4e2d\U0001F600";
  DecodedCodePoint decoded = DecodeUtf8(text, 0);
  EXPECT_EQ(decoded.code_point, U'a');
  EXPECT_EQ(decoded.length, 1u);
  decoded = DecodeUtf8(text, 1);
  EXPECT_EQ(decoded.code_point, U'\u00e9');
  EXPECT_EQ(decoded.length, 2u);
  decoded = DecodeUtf8(text, 3);
  EXPECT_EQ(decoded.code_point, U'\u4e2d');
  EXPECT_EQ(decoded.length, 3u);
  decoded = DecodeUtf8(text, 6);
  EXPECT_EQ(decoded.code_point, U'\U0001F600');
  EXPECT_EQ(decoded.length, 4u);
  EXPECT_TRUE(decoded.valid);
}

// RFC 3629's exclusions, each consuming its maximal valid prefix as TextDecoder does.
TEST(Utf8Test, RejectsOverlongsSurrogatesAndBeyondMaximumByMaximalSubpart) {
  const struct {
    std::string_view bytes;
    size_t consumed;
  } kInvalid[] = {
      {"\xC0\xAF", 1},          // overlong '/'
      {"\xE0\x80\xAF", 1},      // overlong, three bytes
      {"\xED\xA0\x80", 1},      // a surrogate
      {"\xF0\x80\x80\xAF", 1},  // overlong, four bytes
      {"\xF4\x90\x80\x80", 1},  // past U+10FFFF
      {"\xF5\x80\x80\x80", 1},  // no such lead byte
      {"\x80", 1},              // a lone continuation
      {"\xE4\xB8", 2},          // truncated at the end
      {"\xE4\xB8" "a", 2},      // cut short by ASCII
      {"\xF0\x9F\x98", 3},      // truncated four-byte sequence
  };
  for (const auto& invalid : kInvalid) {
    const DecodedCodePoint decoded = DecodeUtf8(invalid.bytes, 0);
    EXPECT_FALSE(decoded.valid) << testing::PrintToString(std::string(invalid.bytes));
    EXPECT_EQ(decoded.code_point, U'\uFFFD');
    EXPECT_EQ(decoded.length, invalid.consumed) << testing::PrintToString(std::string(invalid.bytes));
    EXPECT_FALSE(IsValidUtf8(invalid.bytes));
  }
  EXPECT_TRUE(IsValidUtf8("plain \u00e9\u4e2d\U0010FFFF"));
  EXPECT_TRUE(IsValidUtf8(""));
}

TEST(Utf8Test, AppendEncodesWhatDecodeReads) {
  for (char32_t code_point : {U'\0', U'\u007F', U'\u0080', U'\u07FF', U'\u0800', U'\uFFFF',
                              U'\U00010000', U'\U0010FFFF'}) {
    std::string encoded;
    AppendUtf8(code_point, &encoded);
    const DecodedCodePoint decoded = DecodeUtf8(encoded, 0);
    EXPECT_TRUE(decoded.valid);
    EXPECT_EQ(decoded.code_point, code_point);
    EXPECT_EQ(decoded.length, encoded.size());
  }
}

TEST(Utf8Test, ReplaceInvalidReturnsValidTextAsIs) {
  std::string storage;
  const std::string_view valid = "h\u00e9llo";
  EXPECT_EQ(ReplaceInvalidUtf8(valid, &storage).data(), valid.data());
  EXPECT_EQ(ReplaceInvalidUtf8("a\xE4\xB8" "b\xFF", &storage), "a\uFFFD" "b\uFFFD");
}

TEST(Utf8Test, BoundariesNeverSplitASequence) {
  const std::string_view text = "ab\u4e2d";  // 'a' 'b' then three bytes
  EXPECT_EQ(CutAtUtf8Boundary(text, 3), "ab");
  EXPECT_EQ(CutAtUtf8Boundary(text, 4), "ab");
  EXPECT_EQ(CutAtUtf8Boundary(text, 5), text);
  EXPECT_EQ(CutAtUtf8Boundary(text, 99), text);
  EXPECT_EQ(PreviousCodePointStart(text, text.size()), 2u);
  EXPECT_EQ(PreviousCodePointStart(text, 2), 1u);
  EXPECT_EQ(CodePointStartAtOrAfter(text, 3), text.size());
  EXPECT_EQ(CodePointStartAtOrAfter(text, 2), 2u);
}

}  // namespace
}  // namespace quantclaw
