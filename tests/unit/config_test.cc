#include "router/router_config.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace quantclaw {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

// Every problem, as "pointer: reason" lines, for compact assertions.
std::string Problems(const std::string& json) {
  ConfigErrors errors;
  auto config = ParseRouterConfig(json, &errors);
  EXPECT_EQ(config == nullptr, !errors.empty());
  std::string out;
  for (const auto& error : errors) out += error.pointer + ": " + error.reason + "\n";
  return out;
}

const char* kTwoTiers = R"({"tiers":[
  {"name":"bf16","format":"bf16","base_url":"http://127.0.0.1:8001/v1","model":"m"},
  {"name":"w4","format":"w4a16","base_url":"https://h.example:8443/v1","model":"m-awq"}]})";

TEST(ConfigTest, MinimalConfigGetsDefaults) {
  ConfigErrors errors;
  auto config = ParseRouterConfig(kTwoTiers, &errors);
  ASSERT_TRUE(config) << errors[0].reason;
  EXPECT_EQ(config->tiers.size(), 2u);
  EXPECT_EQ(config->reference_tier, 0u);  // the highest precision
  EXPECT_EQ(config->ladder, (std::vector<uint32_t>{1, 0}));
  EXPECT_EQ(config->policy.thresholds, (std::vector<double>{0.5}));
  EXPECT_EQ(config->policy.default_tier, 0u);
  EXPECT_EQ(config->limits.max_sessions, 10000u);
}

TEST(ConfigTest, ShippedExamplesAreValid) {
  for (const char* name : {"router.json", "quantclaw-compat.json"}) {
    ConfigErrors errors;
    auto config = ParseRouterConfig(ReadFile(std::string(QC_EXAMPLES_DIR) + "/configs/" + name), &errors);
    EXPECT_TRUE(config) << name << ": " << (errors.empty() ? "" : errors[0].pointer + ": " + errors[0].reason);
  }
}

TEST(ConfigTest, UnknownKeySuggestsTheNearestName) {
  EXPECT_EQ(Problems(R"({"tiers":[{"name":"a","format":"bf16","bse_url":"http://h/v1","base_url":"http://h/v1","model":"m"}]})"),
            "/tiers/0/bse_url: unknown key \"bse_url\" (did you mean \"base_url\"?)\n");
}

TEST(ConfigTest, WrongTypesAndRanges) {
  std::string problems = Problems(R"({"tiers":[{"name":7,"format":"bf16","base_url":"http://h/v1","model":"m",
      "cost":{"input_per_mtok":-1}}],"policy":{"budget":{"high_fraction":1.5}},"limits":{"max_sessions":0}})");
  EXPECT_NE(problems.find("/tiers/0/name: expected a string, got a number"), std::string::npos) << problems;
  EXPECT_NE(problems.find("/tiers/0/cost/input_per_mtok: out of range: -1 is not in [0, 1e+09]"), std::string::npos)
      << problems;
  EXPECT_NE(problems.find("/policy/budget/high_fraction: out of range: 1.5 is not in [0, 1]"), std::string::npos)
      << problems;
  EXPECT_NE(problems.find("/limits/max_sessions: out of range: 0 is not in [1, 10000000]"), std::string::npos)
      << problems;
}

TEST(ConfigTest, DuplicateTierNames) {
  EXPECT_EQ(Problems(R"({"tiers":[{"name":"a","format":"bf16","base_url":"http://h/v1","model":"m"},
      {"name":"a","format":"fp8","base_url":"http://h/v1","model":"m"}]})"),
            "/tiers/1/name: duplicate tier name \"a\" (also /tiers/0/name)\n");
}

TEST(ConfigTest, HandoffGroupsAreDeclaredPerTierAndChecked) {
  ConfigErrors errors;
  auto config = ParseRouterConfig(R"({"tiers":[
      {"name":"q4","format":"q4_0","base_url":"http://h:1/v1","model":"m",
       "handoff":{"kind":"llama_slots","group":"g","slot_dir":"/tmp","slots":4}},
      {"name":"f16","format":"fp16","base_url":"http://h:2/v1","model":"m",
       "handoff":{"kind":"llama_slots","group":"g","slot_dir":"/tmp"}},
      {"name":"q8","format":"q8_0","base_url":"http://h:3/v1","model":"m"}]})",
                                  &errors);
  ASSERT_NE(config, nullptr) << errors.front().pointer << ": " << errors.front().reason;
  EXPECT_EQ(config->tiers[0].handoff.kind, HandoffKind::kLlamaSlots);
  EXPECT_EQ(config->tiers[0].handoff.slots, 4u);
  EXPECT_EQ(config->tiers[1].handoff.slots, 1u);
  EXPECT_TRUE(config->CanHandOff(0, 1));
  EXPECT_TRUE(config->CanHandOff(1, 0));
  EXPECT_FALSE(config->CanHandOff(0, 2));  // q8 declares no hand-off
  EXPECT_FALSE(config->CanHandOff(0, 0));

  const std::string problems = Problems(R"({"tiers":[
      {"name":"a","format":"q4_0","base_url":"http://h/v1","model":"m","handoff":{"kind":"llama_slot","group":"g"}},
      {"name":"b","format":"q8_0","base_url":"http://h/v1","model":"m","handoff":{"kind":"vllm_disagg","group":"g","slot_dir":"/tmp"}},
      {"name":"c","format":"fp16","base_url":"http://h/v1","model":"m","handoff":{"kind":"llama_slots","group":"g","slots":0}},
      {"name":"d","format":"bf16","base_url":"http://h/v1","model":"m","handoff":{"kind":"llama_slots","group":"h","slot_dir":"/no/such/dir"}},
      {"name":"e","format":"fp32","base_url":"http://h/v1","model":"m","handoff":{"kind":"vllm_disagg"}}]})");
  EXPECT_NE(problems.find("/tiers/0/handoff/kind: unknown hand-off kind \"llama_slot\" (known: llama_slots, vllm_disagg)"),
            std::string::npos) << problems;
  EXPECT_NE(problems.find("/tiers/1/handoff/slot_dir: only a llama_slots hand-off has a slot folder"), std::string::npos)
      << problems;
  EXPECT_NE(problems.find("/tiers/2/handoff/slot_dir: "), std::string::npos) << problems;  // required for llama_slots
  EXPECT_NE(problems.find("/tiers/2/handoff/slots: "), std::string::npos) << problems;
  EXPECT_NE(problems.find("/tiers/2/handoff/kind: group \"g\" mixes hand-off kinds"), std::string::npos) << problems;
  EXPECT_NE(problems.find("/tiers/3/handoff/slot_dir: not a folder: \"/no/such/dir\""), std::string::npos) << problems;
  EXPECT_NE(problems.find("/tiers/4/handoff/group: "), std::string::npos) << problems;

  EXPECT_NE(Problems(R"({"tiers":[
      {"name":"a","format":"q4_0","base_url":"http://h/v1","model":"m","handoff":{"kind":"llama_slots","group":"g","slot_dir":"/tmp"}},
      {"name":"b","format":"fp16","base_url":"http://h/v1","model":"m","handoff":{"kind":"llama_slots","group":"g","slot_dir":"/"}}]})")
                .find("/tiers/1/handoff/slot_dir: group \"g\" has two slot folders (/tiers/0/handoff/slot_dir is \"/tmp\")"),
            std::string::npos);
}

TEST(ConfigTest, ReferencesToMissingTiers) {
  std::string problems = Problems(R"({"tiers":[{"name":"a","format":"bf16","base_url":"http://h/v1","model":"m"}],
      "reference_tier":"b","policy":{"force":[{"when":{"step_kind":"search"},"tier":"c"}],"default_tier":"d"}})");
  EXPECT_NE(problems.find("/reference_tier: no tier named \"b\" (tiers: a)"), std::string::npos) << problems;
  EXPECT_NE(problems.find("/policy/force/0/tier: no tier named \"c\""), std::string::npos) << problems;
  EXPECT_NE(problems.find("/policy/default_tier: no tier named \"d\""), std::string::npos) << problems;
}

TEST(ConfigTest, MalformedUrls) {
  auto problem_for = [](const std::string& url) {
    return Problems(R"({"tiers":[{"name":"a","format":"bf16","model":"m","base_url":")" + url + R"("}]})");
  };
  EXPECT_EQ(problem_for("127.0.0.1:8000/v1"),
            "/tiers/0/base_url: malformed URL: missing scheme (expected http:// or https://)\n");
  EXPECT_EQ(problem_for("ftp://h/v1"), "/tiers/0/base_url: malformed URL: unsupported scheme \"ftp\" (expected http or https)\n");
  EXPECT_EQ(problem_for("http://h:99999/v1"), "/tiers/0/base_url: malformed URL: port 99999 is not in [1, 65535]\n");
  EXPECT_EQ(problem_for("http:///v1"), "/tiers/0/base_url: malformed URL: missing host\n");
  EXPECT_EQ(problem_for("http://user:pw@h/v1"),
            "/tiers/0/base_url: malformed URL: credentials in the URL; use api_key_env instead\n");
  EXPECT_EQ(problem_for("http://[::1]:8000/v1"), "");
}

TEST(ConfigTest, ReportsEveryProblemAtOnce) {
  std::string problems = Problems(R"({"tiers":[{"name":"a","format":"q9","base_url":"x","model":""}],"extra":1})");
  EXPECT_NE(problems.find("/tiers/0/format: unknown precision format \"q9\""), std::string::npos) << problems;
  EXPECT_NE(problems.find("/tiers/0/base_url: malformed URL"), std::string::npos) << problems;
  EXPECT_NE(problems.find("/tiers/0/model: must not be empty"), std::string::npos) << problems;
  EXPECT_NE(problems.find("/extra: unknown key \"extra\""), std::string::npos) << problems;
}

TEST(ConfigTest, InvalidJsonNamesTheByte) {
  EXPECT_EQ(Problems("{\"tiers\": [}"), ": invalid JSON at byte 11: syntax error\n");
  EXPECT_EQ(Problems("[]"), ": expected an object, got an array\n");
  // The extra text starts after the document and the space before it.
  EXPECT_EQ(Problems(std::string(kTwoTiers) + " {}"),
            ": unexpected text after the JSON document at byte " + std::to_string(std::strlen(kTwoTiers) + 1) + "\n");
}

TEST(ConfigTest, ConditionsAndThresholds) {
  std::string problems = Problems(R"({"tiers":[
      {"name":"a","format":"bf16","base_url":"http://h/v1","model":"m"},
      {"name":"b","format":"int4","base_url":"http://h/v1","model":"m"}],
      "policy":{"thresholds":[0.3,0.6],"scorer":{"kind":"rules","rules":[{"when":{"context_token_gt":5},"score":2}]}}})");
  EXPECT_NE(problems.find("/policy/thresholds: expected 1 thresholds"), std::string::npos) << problems;
  EXPECT_NE(problems.find("/policy/scorer/rules/0/when/context_token_gt: unknown condition \"context_token_gt\" "
                          "(did you mean \"context_tokens_gt\"?)"),
            std::string::npos)
      << problems;
  EXPECT_NE(problems.find("/policy/scorer/rules/0/score: out of range: 2 is not in [0, 1]"), std::string::npos)
      << problems;
}

TEST(ConfigTest, QuantClawScorerMapsPrecisionsToTiers) {
  std::string quant = ReadFile(std::string(QC_TEST_DATA_DIR) + "/quantclaw-config.example.json");
  // The file holds {"quant": {...}}: splice its object in as the scorer's "quant".
  std::string object = quant.substr(quant.find('{', 1));
  object = object.substr(0, object.rfind('}'));
  std::string json = R"({"tiers":[
      {"name":"bf16","format":"bf16","base_url":"http://h/v1","model":"m"},
      {"name":"fp8","format":"fp8","base_url":"http://h/v1","model":"m"},
      {"name":"int4","format":"int4","base_url":"http://h/v1","model":"m"}],
      "policy":{"scorer":{"kind":"quantclaw","quant":)" + object + "}}}";
  ConfigErrors errors;
  auto config = ParseRouterConfig(json, &errors);
  ASSERT_TRUE(config) << errors[0].pointer << ": " << errors[0].reason;
  const QuantClawScorer* scorer = config->quantclaw_scorer();
  ASSERT_NE(scorer, nullptr);
  EXPECT_EQ(scorer->precision_tier[0], 2);  // 4bit -> int4
  EXPECT_EQ(scorer->precision_tier[1], 1);  // 8bit -> fp8
  EXPECT_EQ(scorer->precision_tier[2], 0);  // 16bit -> the reference tier
}

TEST(ConfigTest, LoadJoinsProblemsAsLines) {
  auto status = LoadRouterConfig(R"({"tiers":[]})");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(std::string(status.status().message()), "/tiers: must hold at least one tier");
}

}  // namespace
}  // namespace quantclaw

namespace quantclaw {
namespace {

std::vector<ConfigError> TierNameErrors(const std::string& name_json) {
  ConfigErrors errors;
  auto config = ParseRouterConfig(R"({"tiers":[{"name":)" + name_json +
                                      R"(,"format":"bf16","base_url":"http://h/v1","model":"m"}]})",
                                  &errors);
  EXPECT_EQ(config == nullptr, !errors.empty());
  return errors;
}

// Tier names cross the C ABI whole (qc_decision.tier_name) and label metrics: capped and printable.
TEST(ConfigTest, TierNamesFitTheDecisionAndHoldNoControlCharacters) {
  EXPECT_TRUE(TierNameErrors("\"" + std::string(63, 'a') + "\"").empty());
  auto errors = TierNameErrors("\"" + std::string(64, 'a') + "\"");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/tiers/0/name");
  EXPECT_NE(errors[0].reason.find("at most 63 bytes"), std::string::npos) << errors[0].reason;
  errors = TierNameErrors(R"("bf\u0000x")");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].reason.find("control characters"), std::string::npos) << errors[0].reason;
  EXPECT_EQ(TierNameErrors(R"("tab\there")").size(), 1u);
  // 21 three-byte characters: 63 bytes, accepted.
  std::string wide;
  for (int i = 0; i < 21; ++i) wide += "\xe7\xb2\xbe";
  EXPECT_TRUE(TierNameErrors("\"" + wide + "\"").empty());
}

}  // namespace
}  // namespace quantclaw
