#include "messages/messages.h"

#include <fstream>
#include <string>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "quantclaw/quantclaw.h"
#include "quantclaw/v1/decision.pb.h"
#include "quantclaw/v1/outcome.pb.h"
#include "quantclaw/v1/step.pb.h"

namespace quantclaw {
namespace {

// Our JSON decoding must agree with protobuf's own JSON parser, the reference for the mapping.
template <typename Message>
void ExpectSameAsProtobuf(const std::string& json) {
  Message ours, reference;
  absl::Status status = DecodeMessage(json, WireFormat::kJson, &ours);
  ASSERT_TRUE(status.ok()) << status << "\n" << json;
  google::protobuf::util::JsonParseOptions options;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &reference, options).ok()) << json;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ours, reference))
      << "ours: " << ours.DebugString() << "\nreference: " << reference.DebugString();
}

std::string Error(const std::string& json) {
  v1::Step step;
  absl::Status status = DecodeMessage(json, WireFormat::kJson, &step);
  return status.ok() ? "ok" : std::string(status.message());
}

TEST(MessagesTest, ExampleEpisodesDecodeAsProtobufDoes) {
  int lines = 0;
  for (const char* name : {"research-agent.jsonl", "quantclaw-turns.jsonl"}) {
    std::ifstream file(std::string(QC_EXAMPLES_DIR) + "/episodes/" + name);
    std::string line;
    while (std::getline(file, line)) {
      if (line.find("\"outcome\"") != std::string::npos) continue;
      ExpectSameAsProtobuf<v1::Step>(line);
      ++lines;
    }
  }
  EXPECT_EQ(lines, 16);
}

TEST(MessagesTest, MappingDetailsAgreeWithProtobuf) {
  // camelCase names, 64-bit integers as strings, nulls, content parts, nested Struct and ListValue.
  ExpectSameAsProtobuf<v1::Step>(R"({"sessionId":"s","stepIndex":"7","messages":[
      {"role":"user","content":[{"type":"text","text":"hi"},{"n":1.5,"b":true,"z":null,"l":[]}],"isError":false},
      {"role":"tool","content":null,"toolCallId":"c"}],
      "request":{"maxTokens":64,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}],
                 "toolChoice":"auto","responseFormat":{"type":"json_schema","json_schema":{"a":[1,2]}}},
      "hints":null})");
  ExpectSameAsProtobuf<v1::Outcome>(R"({"session_id":"s","status":"OUTCOME_STATUS_TIMEOUT","output_tokens":"12",
      "latency_ms":12.5,"tool_call_valid":false,"episode_reward":1})");
  ExpectSameAsProtobuf<v1::Outcome>(R"({"session_id":"s","status":3,"ttft_ms":"-Infinity"})");
  ExpectSameAsProtobuf<v1::DecisionRequest>(R"({"session_id":"s"})");
}

TEST(MessagesTest, DecisionHasABoolForEveryFlagOfQcDecision) {
  // decision.proto says it carries qc_decision's fields: each QC_DECISION_* bit is one bool there.
  const struct {
    uint32_t flag;
    const char* field;
  } kFlags[] = {{QC_DECISION_FORCED, "forced"},           {QC_DECISION_ESCALATED, "escalated"},
                {QC_DECISION_BUDGET_HELD, "budget_held"}, {QC_DECISION_DEFAULTED, "defaulted"},
                {QC_DECISION_PHASE_SPLIT, "phase_split"}, {QC_DECISION_CACHE_HELD, "cache_held"},
                {QC_DECISION_SHADOW_SAMPLED, "shadow_sampled"}};
  uint32_t covered = 0;
  for (const auto& [flag, name] : kFlags) {
    const google::protobuf::FieldDescriptor* field = v1::Decision::descriptor()->FindFieldByName(name);
    ASSERT_NE(field, nullptr) << name;
    EXPECT_EQ(field->type(), google::protobuf::FieldDescriptor::TYPE_BOOL) << name;
    covered |= flag;
  }
  // The flags are the low bits, one each: a new QC_DECISION_* bit needs its bool here and in the proto.
  EXPECT_EQ(covered, (QC_DECISION_SHADOW_SAMPLED << 1) - 1);
  ExpectSameAsProtobuf<v1::Decision>(R"({"session_id":"s","tier_index":1,"prefill_tier_index":0,
      "phase_split":true,"cacheHeld":true,"forced":false})");
}

TEST(MessagesTest, ErrorsNameTheFieldByPointer) {
  EXPECT_EQ(Error(R"({"session_id":"s","messages":[{"role":"user"},{"role":7}]})"),
            "JSON does not decode as quantclaw.v1.Step: /messages/1/role: expected a string for "
            "quantclaw.v1.ChatMessage.role, got a number");
  EXPECT_EQ(Error(R"({"sesion_id":"s"})"),
            "JSON does not decode as quantclaw.v1.Step: /sesion_id: unknown field \"sesion_id\" in quantclaw.v1.Step");
  EXPECT_EQ(Error(R"({"step_index":-1})"),
            "JSON does not decode as quantclaw.v1.Step: /step_index: expected an unsigned 64-bit integer for "
            "quantclaw.v1.Step.step_index, got a number");
  EXPECT_EQ(Error(R"({"messages":{}})"),
            "JSON does not decode as quantclaw.v1.Step: /messages: expected an array, got an object");
  EXPECT_EQ(Error(R"([1])"),
            "JSON does not decode as quantclaw.v1.Step: (root): expected an object for quantclaw.v1.Step, got an array");
  EXPECT_EQ(Error(R"({"session_id":"s"} x)"),
            "JSON does not decode as quantclaw.v1.Step: invalid JSON at byte 19: extra data");
  EXPECT_EQ(Error(R"({"request":{"max_tokens":4294967296}})"),
            "JSON does not decode as quantclaw.v1.Step: /request/max_tokens: expected an unsigned 32-bit integer "
            "for quantclaw.v1.StepRequest.max_tokens, got a number");
}

TEST(MessagesTest, OutcomeEnumByUnknownName) {
  v1::Outcome outcome;
  absl::Status status = DecodeMessage(R"({"status":"DONE"})", WireFormat::kJson, &outcome);
  EXPECT_EQ(std::string(status.message()),
            "JSON does not decode as quantclaw.v1.Outcome: /status: not a value of quantclaw.v1.OutcomeStatus");
}

TEST(MessagesTest, DeepNestingIsRefused) {
  std::string deep(200, '[');
  deep = R"({"messages":[{"content":)" + deep + std::string(200, ']') + "}]}";
  EXPECT_NE(Error(deep).find("invalid JSON"), std::string::npos);
}

TEST(MessagesTest, InvalidUtf8InProtobufIsAnErrorWithTheField) {
  v1::Step step;
  step.set_session_id("s");
  std::string bytes = step.SerializeAsString();
  bytes.back() = '\xff';
  absl::Status status = DecodeMessage(bytes, WireFormat::kProtobuf, &step);
  EXPECT_NE(std::string(status.message()).find("quantclaw.v1.Step.session_id"), std::string::npos) << status;
}

}  // namespace
}  // namespace quantclaw
