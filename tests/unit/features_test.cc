#include "features/features.h"

#include <cmath>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "quantclaw/v1/step.pb.h"

namespace quantclaw {
namespace {

v1::Step StepFromJson(const std::string& json) {
  v1::Step step;
  auto status = google::protobuf::util::JsonStringToMessage(json, &step);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return step;
}

TEST(ApproxTokensTest, AsciiAndCjk) {
  EXPECT_EQ(ApproxTokens(""), 0u);
  EXPECT_EQ(ApproxTokens("abcd"), 1u);
  EXPECT_EQ(ApproxTokens("abcde"), 2u);
  EXPECT_EQ(ApproxTokens("帮我理解"), 4u);  // four code points, one token each
}

TEST(FeaturesTest, CountsTurnsToolsAndTokensIncrementally) {
  SessionFeatures features;
  std::string prompt;
  bool turn = UpdateFeatures(StepFromJson(R"({"session_id":"s","messages":[
      {"role":"system","content":"You are an agent."},
      {"role":"user","content":"Find the revenue."}],
      "request":{"tools":[{"type":"function","function":{"name":"web_search"}}]}})"),
                             &features, &prompt);
  EXPECT_TRUE(turn);
  EXPECT_EQ(prompt, "Find the revenue.");
  EXPECT_EQ(features.step_index, 0u);
  EXPECT_EQ(features.turn_count, 1u);
  EXPECT_EQ(features.tools_offered, 1u);
  EXPECT_EQ(features.step_kind.view(), "first");
  // 4 + ceil(17/4)=5 for the system message, 4 + ceil(17/4)=5 for the user message.
  EXPECT_EQ(features.new_tokens, 18u);
  uint64_t context_after_first = features.context_tokens;

  turn = UpdateFeatures(StepFromJson(R"({"session_id":"s","messages":[
      {"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"web_search","arguments":"{\"q\":\"x\"}"}}]},
      {"role":"tool","tool_call_id":"1","content":"Error: rate limited"}]})"),
                        &features, &prompt);
  EXPECT_FALSE(turn);
  EXPECT_EQ(features.step_index, 1u);
  EXPECT_EQ(features.tool_calls, 1u);
  EXPECT_EQ(features.recent_tools[0].view(), "web_search");
  EXPECT_EQ(features.recent_tool_errors, 1u);
  EXPECT_TRUE(features.last_tool_error);
  EXPECT_EQ(features.step_kind.view(), "tool_followup");
  EXPECT_EQ(features.context_tokens, context_after_first + features.new_tokens);
  EXPECT_EQ(features.tools_offered, 0u);  // this request offered none
}

TEST(FeaturesTest, RepeatedActionsAreCounted) {
  SessionFeatures features;
  std::string prompt;
  const std::string call = R"({"session_id":"s","messages":[{"role":"assistant","tool_calls":[
      {"id":"1","type":"function","function":{"name":"click","arguments":"{\"id\":7}"}}]}]})";
  UpdateFeatures(StepFromJson(call), &features, &prompt);
  EXPECT_EQ(features.repeated_actions, 0u);
  UpdateFeatures(StepFromJson(call), &features, &prompt);
  EXPECT_EQ(features.repeated_actions, 1u);
  UpdateFeatures(StepFromJson(call), &features, &prompt);
  EXPECT_EQ(features.repeated_actions, 2u);
  // Different arguments are a different action.
  UpdateFeatures(StepFromJson(R"({"session_id":"s","messages":[{"role":"assistant","tool_calls":[
      {"id":"1","type":"function","function":{"name":"click","arguments":"{\"id\":8}"}}]}]})"),
                 &features, &prompt);
  EXPECT_EQ(features.repeated_actions, 2u);
}

TEST(FeaturesTest, HintsAndJsonRequests) {
  SessionFeatures features;
  std::string prompt;
  UpdateFeatures(StepFromJson(R"({"session_id":"s","hints":{"step_kind":"search"},
      "request":{"response_format":{"type":"json_object"}}})"),
                 &features, &prompt);
  EXPECT_EQ(features.step_kind.view(), "search");
  EXPECT_TRUE(features.json_requested);
}

TEST(FeaturesTest, ContentPartsAreRead) {
  SessionFeatures features;
  std::string prompt;
  UpdateFeatures(StepFromJson(R"({"session_id":"s","messages":[{"role":"user","content":[
      {"type":"text","text":"look at"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"this"}]}]})"),
                 &features, &prompt);
  EXPECT_EQ(prompt, "look at\nthis");
}

TEST(FeaturesTest, TextHashIsNormalisedAndStable) {
  SessionFeatures a, b;
  std::string prompt;
  const std::string json = R"({"session_id":"s","messages":[{"role":"user","content":"Compare the quarterly revenue"}]})";
  UpdateFeatures(StepFromJson(json), &a, &prompt);
  UpdateFeatures(StepFromJson(json), &b, &prompt);
  double norm = 0;
  for (float value : a.text_hash) norm += double(value) * value;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  for (int i = 0; i < kTextHashBuckets; ++i) EXPECT_EQ(a.text_hash[i], b.text_hash[i]);
}

TEST(FeaturesTest, InlineNameTruncatesAtUtf8Boundary) {
  InlineName name;
  std::string long_name(30, 'a');
  long_name += "帮";  // 3 bytes: would cross the 31-byte capacity
  name.Assign(long_name);
  EXPECT_EQ(name.view(), std::string(30, 'a'));
}

TEST(FeaturesTest, ToolErrorShapes) {
  EXPECT_TRUE(LooksLikeToolError("  Traceback (most recent call last)"));
  EXPECT_TRUE(LooksLikeToolError("{\"error\": \"boom\"}"));
  EXPECT_TRUE(LooksLikeToolError("ERROR: nope"));
  EXPECT_FALSE(LooksLikeToolError("wrote 52 bytes"));
  EXPECT_FALSE(LooksLikeToolError("The error rate fell"));
}

TEST(FeaturesTest, SessionStateIsSmall) {
  EXPECT_LE(sizeof(SessionFeatures), 1024u);
}

}  // namespace
}  // namespace quantclaw
