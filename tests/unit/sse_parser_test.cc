// SseParser against the standard's "Parsing an event stream" and "Interpreting an event stream"
// (https://html.spec.whatwg.org/multipage/server-sent-events.html), as far as the data of events goes.
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "backend/http_client.h"

namespace quantclaw {
namespace {

// The events `chunks` make, fed one chunk per Feed call.
std::vector<std::string> EventsFed(const std::vector<std::string_view>& chunks) {
  SseParser parser;
  std::vector<std::string> events;
  for (std::string_view chunk : chunks) {
    EXPECT_TRUE(parser.Feed(chunk, [&](std::string_view data) {
      events.emplace_back(data);
      return true;
    }));
  }
  return events;
}

std::vector<std::string> Events(std::string_view stream) { return EventsFed({stream}); }

using Strings = std::vector<std::string>;

TEST(SseParserTest, LineEndsAreLfCrOrCrlf) {
  EXPECT_EQ(Events("data: a\n\ndata: b\n\n"), (Strings{"a", "b"}));
  EXPECT_EQ(Events("data: a\r\rdata: b\r\r"), (Strings{"a", "b"}));
  EXPECT_EQ(Events("data: a\r\n\r\ndata: b\r\n\r\n"), (Strings{"a", "b"}));
  // Mixed in one stream; "\n\r" is two line ends, so it ends the event too.
  EXPECT_EQ(Events("data: a\r\ndata: b\rdata: c\n\ndata: d\n\rdata: e\r\n\n"), (Strings{"a\nb\nc", "d", "e"}));
}

TEST(SseParserTest, ACrlfSplitAcrossReadsIsOneLineEnd) {
  // Two line ends here would end the event after "a" and drop nothing, but join nothing either.
  EXPECT_EQ(EventsFed({"data: a\r", "\ndata: b\r\n\r\n"}), (Strings{"a\nb"}));
  EXPECT_EQ(EventsFed({"data: a\r", "\n", "\r", "\n"}), (Strings{"a"}));
  // A CR at the end of a read followed by a CR is two line ends.
  EXPECT_EQ(EventsFed({"data: a\r", "\rdata: b\r\r"}), (Strings{"a", "b"}));
}

TEST(SseParserTest, OneLeadingBomIsRemoved) {
  EXPECT_EQ(Events("\xEF\xBB\xBF" "data: a\n\n"), (Strings{"a"}));
  // Split across reads.
  EXPECT_EQ(EventsFed({"\xEF", "\xBB", "\xBF" "data: a\n\n"}), (Strings{"a"}));
  // Only one, and only at the very start: a second makes the first line a field named "\uFEFFdata".
  EXPECT_EQ(Events("\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\ndata: b\n\n"), (Strings{"b"}));
  EXPECT_EQ(Events("data: a\n\n\xEF\xBB\xBF" "data: b\n\ndata: c\n\n"), (Strings{"a", "c"}));
  // Inside a value it is data.
  EXPECT_EQ(Events("data: \xEF\xBB\xBF" "a\n\n"), (Strings{"\xEF\xBB\xBF" "a"}));
}

TEST(SseParserTest, AFieldWithoutAColonHasAnEmptyValue) {
  EXPECT_EQ(Events("data\n\n"), (Strings{""}));
  EXPECT_EQ(Events("data: a\ndata\ndata: b\n\n"), (Strings{"a\n\nb"}));
  // Other names, with or without a colon, are not data.
  EXPECT_EQ(Events("datum\n\ndata2: x\n\ndata: a\n\n"), (Strings{"a"}));
}

TEST(SseParserTest, CommentsAndOtherFieldsAreSkipped) {
  EXPECT_EQ(Events(": keep-alive\n\n:\n\ndata: a\n: a comment inside\ndata: b\n\n"), (Strings{"a\nb"}));
  EXPECT_EQ(Events("event: message\nid: 7\nretry: 100\ndata: a\n\n"), (Strings{"a"}));
  EXPECT_EQ(Events("event: ping\nid: 8\n\n"), (Strings{}));
}

TEST(SseParserTest, OneSpaceAfterTheColonIsRemoved) {
  EXPECT_EQ(Events("data:value\n\n"), (Strings{"value"}));
  EXPECT_EQ(Events("data: value\n\n"), (Strings{"value"}));
  EXPECT_EQ(Events("data:  value \n\n"), (Strings{" value "}));
  EXPECT_EQ(Events("data:\n\n"), (Strings{""}));
  EXPECT_EQ(Events("data: a:b: c\n\n"), (Strings{"a:b: c"}));
}

TEST(SseParserTest, AnEventWithoutDataDispatchesNothing) {
  EXPECT_EQ(Events("\n\n\r\n\r\r"), (Strings{}));
  EXPECT_EQ(Events("data: a\n\n\n\n\ndata: b\n\n"), (Strings{"a", "b"}));
  // An empty data line is data: it dispatches an empty event.
  EXPECT_EQ(Events("data:\n\n"), (Strings{""}));
}

TEST(SseParserTest, DataLinesAreJoinedByNewlines) {
  EXPECT_EQ(Events("data: {\"a\":\ndata: 1}\n\n"), (Strings{"{\"a\":\n1}"}));
  EXPECT_EQ(Events("data: a\ndata:\ndata: b\n\n"), (Strings{"a\n\nb"}));
}

TEST(SseParserTest, AnUnfinishedEventIsNotDispatched) {
  EXPECT_EQ(Events("data: a\n\ndata: b\n"), (Strings{"a"}));
  EXPECT_EQ(Events("data: a\n\ndata: b"), (Strings{"a"}));
}

TEST(SseParserTest, TheReceiverStopsTheParser) {
  SseParser parser;
  std::vector<std::string> events;
  EXPECT_FALSE(parser.Feed("data: a\n\ndata: b\n\ndata: c\n\n", [&](std::string_view data) {
    events.emplace_back(data);
    return events.size() < 2;
  }));
  EXPECT_EQ(events, (Strings{"a", "b"}));
}

TEST(SseParserTest, AnySplitGivesTheSameEvents) {
  const std::string stream =
      "\xEF\xBB\xBF: hello\r\n"
      "data: {\"x\": 1}\r\n\r\n"
      "event: message\rdata:two\rdata\r\r"
      "id: 3\ndata: three\n\n"
      "data: four\r\n"
      "\r"
      "data:  five\r\n\n"
      "data\n\n"
      "data: six";
  const Strings expected = {"{\"x\": 1}", "two\n", "three", "four", " five", ""};
  EXPECT_EQ(Events(stream), expected);

  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < stream.size(); ++i) bytes.push_back(std::string_view(stream).substr(i, 1));
  EXPECT_EQ(EventsFed(bytes), expected) << "byte by byte";

  std::mt19937 random(12);
  for (int round = 0; round < 500; ++round) {
    std::vector<std::string_view> chunks;
    size_t at = 0;
    while (at < stream.size()) {
      size_t size = std::uniform_int_distribution<size_t>(0, 6)(random);
      chunks.push_back(std::string_view(stream).substr(at, size));
      at += size;
    }
    ASSERT_EQ(EventsFed(chunks), expected) << "round " << round;
  }
}

}  // namespace
}  // namespace quantclaw
