// The QuantClaw rule detector against the plugin's own example config. Every expected decision was
// worked out by hand from the plugin's rules (the arithmetic is in the comments) and cross-checked
// against the plugin's detectTaskTypeByRules run in Node.
#include "policy/task_types.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "features/features.h"
#include "policy/decision.h"
#include "policy/policy.h"
#include "policy/quantclaw_scorer.h"
#include "policy/task_types/prefilter.h"
#include "router/router_config.h"
#include "util/validator.h"

#ifndef QC_TEST_DATA_DIR
#error "QC_TEST_DATA_DIR must name the tests/data directory"
#endif

namespace quantclaw {
namespace {

namespace json = boost::json;

json::value ParseJson(std::string_view text) {
  boost::system::error_code error;
  json::value value = json::parse(text, error);
  EXPECT_FALSE(error) << error.message();
  return value;
}

// The "quant" object of the plugin's config.example.json, copied unchanged into tests/data.
json::value ExampleQuant() {
  std::ifstream file(std::string(QC_TEST_DATA_DIR) + "/quantclaw-config.example.json");
  EXPECT_TRUE(file.good()) << "missing " << QC_TEST_DATA_DIR << "/quantclaw-config.example.json";
  std::stringstream text;
  text << file.rdbuf();
  json::value document = ParseJson(text.str());
  const json::object* root = document.if_object();
  if (root == nullptr || root->if_contains("quant") == nullptr) return nullptr;
  return root->at("quant");
}

std::string Describe(const ConfigErrors& errors) {
  std::string text;
  for (const ConfigError& error : errors) text += error.pointer + ": " + error.reason + "\n";
  return text;
}

std::shared_ptr<const TaskTypeDetector> CompileOrDie(const json::value& quant, TaskTypeMode mode) {
  ConfigErrors errors;
  auto detector = TaskTypeDetector::Compile(quant, "/policy/scorer/quant", mode, &errors);
  EXPECT_TRUE(errors.empty()) << Describe(errors);
  EXPECT_NE(detector, nullptr);
  return detector;
}

class TaskTypesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const json::value quant = ExampleQuant();
    faithful_ = CompileOrDie(quant, TaskTypeMode::kFaithful);
    improved_ = CompileOrDie(quant, TaskTypeMode::kImproved);
    ASSERT_NE(faithful_, nullptr);
    ASSERT_NE(improved_, nullptr);
  }

  // The winning task type's id, or "" when the rules decline.
  static std::string Winner(const TaskTypeDetector& detector, const TaskTypeMatch& match) {
    return match.task_type < 0 ? "" : detector.task_type(match.task_type).id;
  }
  std::string Faithful(std::string_view prompt, TaskTypeMatch* match = nullptr) const {
    TaskTypeMatch result = faithful_->Detect(prompt);
    if (match != nullptr) *match = result;
    return Winner(*faithful_, result);
  }
  std::string Improved(std::string_view prompt, TaskTypeMatch* match = nullptr) const {
    TaskTypeMatch result = improved_->Detect(prompt);
    if (match != nullptr) *match = result;
    return Winner(*improved_, result);
  }

  std::shared_ptr<const TaskTypeDetector> faithful_;
  std::shared_ptr<const TaskTypeDetector> improved_;
};

void ExpectMatch(const TaskTypeMatch& match, int score, int runner_up, int patterns, int keywords,
                 bool complex) {
  EXPECT_EQ(match.score, score);
  EXPECT_EQ(match.runner_up_score, runner_up);
  EXPECT_EQ(match.pattern_hits, patterns);
  EXPECT_EQ(match.keyword_hits, keywords);
  EXPECT_EQ(match.complex, complex);
}

TEST_F(TaskTypesTest, ExampleConfigShape) {
  EXPECT_EQ(faithful_->task_type_count(), 25);
  EXPECT_EQ(faithful_->FindTaskType("coding"), 4);
  EXPECT_EQ(faithful_->FindTaskType("nope"), -1);
  EXPECT_EQ(faithful_->default_task_type(), faithful_->FindTaskType("standard"));
  EXPECT_EQ(faithful_->task_type(faithful_->FindTaskType("data_analysis")).precision,
            Precision::k4bit);
  EXPECT_EQ(faithful_->task_type(faithful_->FindTaskType("coding")).precision, Precision::k16bit);
  EXPECT_EQ(faithful_->task_type(-1).id, "");  // out of range: no throw, no id
  EXPECT_EQ(PrecisionName(Precision::k8bit), "8bit");
}

TEST_F(TaskTypesTest, KeywordWin) {
  TaskTypeMatch match;
  // Tokens: debug, python, script, bug ("this" is a stop word). coding: debug 3 + python 3 +
  // script 3 + bug 3 = 12 from 4 keywords; nothing else scores. 12 >= 8, lead 12 - 0 >= 4.
  EXPECT_EQ(Faithful("debug this python script bug", &match), "coding");
  ExpectMatch(match, 12, 0, 0, 4, false);
  // Keywords match case-insensitively: data_analysis: cagr 3 + roi 3 + trend 3 + chart 3 = 12;
  // comprehension: explain 3. Lead 9.
  EXPECT_EQ(Faithful("Explain the CAGR and ROI trend in this chart", &match), "data_analysis");
  ExpectMatch(match, 12, 3, 0, 4, false);
}

TEST_F(TaskTypesTest, PatternWin) {
  TaskTypeMatch match;
  // procurement: pattern "vendor evaluation" 14 + keyword "vendor evaluation" (has a space) 5 = 19.
  // "suppliers" is not the token "supplier" in faithful mode.
  EXPECT_EQ(Faithful("Please do a vendor evaluation of these three suppliers", &match),
            "procurement");
  ExpectMatch(match, 19, 0, 1, 1, false);
  // Improved mode also counts "suppliers" for "supplier": 19 + 3 = 22.
  EXPECT_EQ(Improved("Please do a vendor evaluation of these three suppliers", &match),
            "procurement");
  ExpectMatch(match, 22, 0, 1, 2, false);
}

TEST_F(TaskTypesTest, DeclinesOnSmallLead) {
  TaskTypeMatch match;
  // coding: python 3 + code 3 + kernel 3 = 9; comprehension: summarize 3 + explain 3 = 6.
  // Lead 3 < 4.
  EXPECT_EQ(Faithful("summarize and explain the python code kernel", &match), "");
  ExpectMatch(match, 9, 6, 0, 3, false);
  // A tie: comprehension explain + summarize + compare = 9, coding python + code + kernel = 9.
  // Equal pattern and keyword counts, so config order ranks comprehension first; lead 0.
  EXPECT_EQ(Faithful("explain, summarize and compare this python code kernel", &match), "");
  ExpectMatch(match, 9, 9, 0, 3, false);
}

TEST_F(TaskTypesTest, DeclinesOnSingleKeyword) {
  TaskTypeMatch match;
  // content: newsletter 3, one keyword and no pattern.
  EXPECT_EQ(Faithful("please write a newsletter", &match), "");
  ExpectMatch(match, 3, 0, 0, 1, false);
  // One phrase keyword (5 points) is still one keyword: procurement 比价 5.
  EXPECT_EQ(Faithful("请比价 these suppliers", &match), "");
  ExpectMatch(match, 5, 0, 0, 1, false);
}

TEST_F(TaskTypesTest, LongPromptRanksOnlyPatterns) {
  TaskTypeMatch match;
  const std::string sentence =
      "Draft our tech newsletter about python code, debug, kernel, CUDA implementation.";
  // Short: content: pattern "tech newsletter" 14 + draft 3 + newsletter 3 = 20; coding: python,
  // code, debug, kernel, cuda, implementation = 18. Lead 2: declined.
  EXPECT_EQ(Faithful(sentence, &match), "");
  ExpectMatch(match, 20, 18, 1, 2, false);
  // Three times over it is 242 characters: complex. Keywords no longer count and coding, with no
  // pattern, is not ranked: content 14 alone.
  const std::string long_prompt = sentence + " " + sentence + " " + sentence;
  ASSERT_GT(long_prompt.size(), 220u);
  EXPECT_EQ(Faithful(long_prompt, &match), "content");
  ExpectMatch(match, 14, 0, 1, 0, true);
}

TEST_F(TaskTypesTest, NumberedStepsMakeAPromptComplex) {
  TaskTypeMatch match;
  // Unnumbered: coding debug + python + script + bug = 12.
  EXPECT_EQ(Faithful("debug the python script and fix the bug", &match), "coding");
  ExpectMatch(match, 12, 0, 0, 4, false);
  // Two numbered steps: complex, so the same keywords count for nothing and no pattern matches.
  EXPECT_EQ(Faithful("1. debug the python script\n2. fix the bug", &match), "");
  ExpectMatch(match, 0, 0, 0, 0, true);
  // Indented steps count too (whitespace may precede the number).
  EXPECT_EQ(Faithful("Steps:\n  1. debug the python script\n   2. fix the bug", &match), "");
  EXPECT_TRUE(match.complex);
  // "2.5" mid-line is not a step: one step only. coding: python + debug + bug = 9.
  EXPECT_EQ(Faithful("1.5 hours of python debug, then 2.5 hours of bug fixing", &match), "coding");
  ExpectMatch(match, 9, 0, 0, 3, false);
}

TEST_F(TaskTypesTest, SystemWordsMakeAPromptComplex) {
  TaskTypeMatch match;
  // "email" and "crm": complex. coding's keywords are ignored; workflow's first pattern (email and
  // crm on one line) scores 14.
  EXPECT_EQ(Faithful("debug the python script that syncs email with the crm", &match), "workflow");
  ExpectMatch(match, 14, 0, 1, 0, true);
  // "inbox" and "api": complex, and no pattern matches.
  EXPECT_EQ(Faithful("debug the python script for the inbox api", &match), "");
  ExpectMatch(match, 0, 0, 0, 0, true);
}

TEST_F(TaskTypesTest, LookaheadPatterns) {
  TaskTypeMatch match;
  // productivity's first pattern: schedule, meeting and free slot on one line: 14. Its keywords
  // would not count (productivity is not on the keyword allow-list).
  EXPECT_EQ(Faithful("Schedule a meeting with Bob in a free slot next week", &match),
            "productivity");
  ExpectMatch(match, 14, 0, 1, 0, false);
  // `.` does not cross a line break: no line has all three.
  EXPECT_EQ(Faithful("Schedule a meeting with Bob.\nFind a free slot next week.", &match), "");
  ExpectMatch(match, 0, 0, 0, 0, false);
  // Nor a lone carriage return or U+2028, JavaScript's other line terminators.
  EXPECT_EQ(Faithful("Schedule a meeting with Bob.\rFind a free slot next week.", &match), "");
  EXPECT_EQ(Faithful("Schedule a meeting with Bob.\u2028Find a free slot next week.", &match), "");
  // The Chinese alternatives: 安排, 会议, 都有空.
  EXPECT_EQ(Faithful("帮我安排一个会议，看看大家都有空的时间", &match), "productivity");
  ExpectMatch(match, 14, 0, 1, 0, false);
}

TEST_F(TaskTypesTest, NegativeLookahead) {
  TaskTypeMatch match;
  // operations' third pattern: open support tickets + categorize, and no crm/knowledge base/SLA
  // after. operations 14; organization: categorize 3.
  EXPECT_EQ(Faithful("Go through the open support tickets and categorize them by urgency", &match),
            "operations");
  ExpectMatch(match, 14, 3, 1, 0, false);
  // "crm" after the rest vetoes the pattern at every start position. "ticket" and "crm" make the
  // prompt complex, so nothing else is ranked.
  EXPECT_EQ(
      Faithful("Go through the open support tickets, categorize them and update the crm", &match),
      "");
  ExpectMatch(match, 0, 0, 0, 0, true);
  // As in JavaScript, a "crm" before them does not: the match starts after it.
  EXPECT_EQ(Faithful("In the crm, open support tickets need someone to categorize them", &match),
            "operations");
  ExpectMatch(match, 14, 0, 1, 0, true);
}

TEST_F(TaskTypesTest, ChineseKeywords) {
  TaskTypeMatch match;
  // Substrings, 5 points each (two or more ideographs): 采购 + 供应商 + 采购建议 = 15.
  EXPECT_EQ(Faithful("请帮我做一个采购建议，比较供应商", &match), "procurement");
  ExpectMatch(match, 15, 0, 0, 3, false);
}

TEST_F(TaskTypesTest, KeywordsCountOnlyOnTheAllowList) {
  TaskTypeMatch match;
  // incident and postmortem are ops keywords, and ops is not on the allow-list; ops's pattern needs
  // tickets, a timeline or the like as well.
  EXPECT_EQ(Faithful("We had an incident and wrote a postmortem", &match), "");
  ExpectMatch(match, 0, 0, 0, 0, false);

  // The allow-list is a fixed list of the plugin's ids: a task type of one's own counts no keyword.
  const json::value quant = ParseJson(R"({
    "taskTypes": [
      {"id": "legal", "precision": "16bit", "keywords": ["contract", "clause", "liability"]},
      {"id": "finance", "precision": "4bit", "keywords": ["税", "发票处理", "liability"]}
    ],
    "defaultTaskType": "legal"
  })");
  auto detector = CompileOrDie(quant, TaskTypeMode::kFaithful);
  ASSERT_NE(detector, nullptr);
  match = detector->Detect("review this contract clause");
  EXPECT_EQ(match.task_type, -1);
  ExpectMatch(match, 0, 0, 0, 0, false);
  // finance is on the list: 税 (one ideograph) 3 + 发票处理 (four) 5 = 8 from two keywords.
  match = detector->Detect("这张发票处理一下税");
  EXPECT_EQ(match.task_type, detector->FindTaskType("finance"));
  ExpectMatch(match, 8, 0, 0, 2, false);
}

TEST(TaskTypesKeywordsTest, ImprovedCountsKeywordsOfAnyIdButThePluginsFive) {
  // legal and oncall are a user's own ids; ops and standard are two of the five the plugin's list
  // leaves out, and improved mode still counts none of their keywords.
  const json::value quant = ParseJson(R"({
    "taskTypes": [
      {"id": "legal", "precision": "16bit", "keywords": ["contract", "clause", "liability"]},
      {"id": "oncall", "precision": "8bit", "keywords": ["incident", "postmortem", "outage"]},
      {"id": "ops", "precision": "16bit", "keywords": ["incident", "postmortem", "outage"]},
      {"id": "standard", "precision": "16bit", "keywords": ["liability clause", "contract"]}
    ]
  })");
  auto faithful = CompileOrDie(quant, TaskTypeMode::kFaithful);
  auto improved = CompileOrDie(quant, TaskTypeMode::kImproved);
  ASSERT_NE(faithful, nullptr);
  ASSERT_NE(improved, nullptr);

  // Tokens: review, liability, clause, contract. Faithful: no id is on the list, nothing counts.
  const std::string_view review = "review the liability clause of this contract";
  TaskTypeMatch match = faithful->Detect(review);
  EXPECT_EQ(match.task_type, -1);
  ExpectMatch(match, 0, 0, 0, 0, false);
  // Improved: legal: contract 3 + clause 3 + liability 3 = 9. standard would score "liability
  // clause" 5 + contract 3 = 8 and cut the lead to 1, but its keywords stay out.
  match = improved->Detect(review);
  EXPECT_EQ(match.task_type, improved->FindTaskType("legal"));
  ExpectMatch(match, 9, 0, 0, 3, false);

  // oncall: incident + postmortem + outage = 9; ops, with the same keywords, would tie it.
  const std::string_view outage = "incident postmortem for the outage";
  match = faithful->Detect(outage);
  EXPECT_EQ(match.task_type, -1);
  ExpectMatch(match, 0, 0, 0, 0, false);
  match = improved->Detect(outage);
  EXPECT_EQ(match.task_type, improved->FindTaskType("oncall"));
  ExpectMatch(match, 9, 0, 0, 3, false);

  // The same "complex" gate as for the plugin's ids: two numbered steps, no keyword counts.
  match = improved->Detect("1. find the incident\n2. write the postmortem of the outage");
  EXPECT_EQ(match.task_type, -1);
  ExpectMatch(match, 0, 0, 0, 0, true);
}

TEST_F(TaskTypesTest, FaithfulAndImprovedDiffer) {
  TaskTypeMatch match;
  // Faithful: "api" inside "capital" and "email" are two system words: complex, no pattern.
  const std::string capital = "explain, summarize and compare the capital budget in this email";
  EXPECT_EQ(Faithful(capital, &match), "");
  ExpectMatch(match, 0, 0, 0, 0, true);
  // Improved: only "email" is a system word. comprehension: explain + summarize + compare = 9;
  // communication: email 3. Lead 6.
  EXPECT_EQ(Improved(capital, &match), "comprehension");
  ExpectMatch(match, 9, 3, 0, 3, false);

  // Faithful: procurement 比价 5 alone. Improved: + "suppliers" for supplier 3 = 8, two keywords.
  EXPECT_EQ(Faithful("请比价 these suppliers", &match), "");
  EXPECT_EQ(Improved("请比价 these suppliers", &match), "procurement");
  ExpectMatch(match, 8, 0, 0, 2, false);
  // Improved system words take plurals too: "emails" and "tickets" make it complex.
  EXPECT_EQ(Improved("debug the python script that reads emails and tickets", &match), "");
  EXPECT_TRUE(match.complex);
}

TEST_F(TaskTypesTest, ResolvePrecisionEscalates) {
  bool escalated = true;
  EXPECT_EQ(faithful_->ResolvePrecision(faithful_->FindTaskType("data_analysis"), &escalated),
            Precision::k4bit);
  EXPECT_FALSE(escalated);

  const std::string task_types = R"("taskTypes": [
      {"id": "cheap", "precision": "4bit"}, {"id": "mid", "precision": "8bit"},
      {"id": "standard", "precision": "16bit"}])";
  // 4bit has no model: a 4bit task type escalates to 8bit; 8bit and 16bit stay.
  auto no_4bit_model = CompileOrDie(ParseJson("{" + task_types + R"(, "targets": {
      "4bit": {"provider": "p4"},
      "8bit": {"provider": "p8", "model": "m8"},
      "16bit": {"provider": "p16", "model": "m16"}}})"),
                                    TaskTypeMode::kFaithful);
  ASSERT_NE(no_4bit_model, nullptr);
  EXPECT_EQ(no_4bit_model->ResolvePrecision(0, &escalated), Precision::k8bit);
  EXPECT_TRUE(escalated);
  EXPECT_EQ(no_4bit_model->ResolvePrecision(1, &escalated), Precision::k8bit);
  EXPECT_FALSE(escalated);
  EXPECT_EQ(no_4bit_model->ResolvePrecision(2, &escalated), Precision::k16bit);
  EXPECT_FALSE(escalated);

  // 8bit's model is empty too: both climb to 16bit.
  auto no_8bit_model = CompileOrDie(ParseJson("{" + task_types + R"(, "targets": {
      "4bit": {"provider": "p4"},
      "8bit": {"provider": "p8", "model": ""},
      "16bit": {"provider": "p16", "model": "m16"}}})"),
                                    TaskTypeMode::kFaithful);
  ASSERT_NE(no_8bit_model, nullptr);
  EXPECT_EQ(no_8bit_model->ResolvePrecision(0, &escalated), Precision::k16bit);
  EXPECT_TRUE(escalated);
  EXPECT_EQ(no_8bit_model->ResolvePrecision(1, &escalated), Precision::k16bit);
  EXPECT_TRUE(escalated);

  // No targets at all: 16bit is the top, served even without a target.
  auto no_targets = CompileOrDie(ParseJson("{" + task_types + "}"), TaskTypeMode::kFaithful);
  ASSERT_NE(no_targets, nullptr);
  EXPECT_EQ(no_targets->ResolvePrecision(0, &escalated), Precision::k16bit);
  EXPECT_TRUE(escalated);
  EXPECT_EQ(no_targets->ResolvePrecision(2, &escalated), Precision::k16bit);
  EXPECT_FALSE(escalated);
  EXPECT_EQ(no_targets->default_task_type(), 2);  // "standard", defaultTaskType being absent
}

struct InvalidConfig {
  const char* json;
  std::vector<std::pair<std::string, std::string>> errors;  // pointer, a part of the reason
};

TEST(TaskTypesValidationTest, ReportsEveryProblemWithItsPointer) {
  const json::value quant = ParseJson(R"({
    "taskType": 1,
    "taskTypes": [
      {"id": "a", "precision": "32bit"},
      {"id": "b", "precision": "4bit", "patterns": ["ok", "(?<=", "(unclosed"]},
      {"id": "a", "precision": "8bit", "keyword": ["x"]},
      {"id": "c", "precision": "16bit", "keywords": ["ok", 7]},
      "d"
    ],
    "defaultTaskType": "standrd",
    "targets": {"4bit": "x", "32bit": {}, "8bit": {"provider": 8, "modle": "m"}},
    "a/b~c": true
  })");
  ConfigErrors errors;
  EXPECT_EQ(TaskTypeDetector::Compile(quant, "/q", TaskTypeMode::kImproved, &errors), nullptr);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"/q/taskType", "unknown key \"taskType\" (did you mean \"taskTypes\"?)"},
      {"/q/a~1b~0c", "unknown key \"a/b~c\""},
      {"/q/taskTypes/0/precision", "expected \"4bit\", \"8bit\" or \"16bit\", got \"32bit\""},
      {"/q/taskTypes/1/patterns/1", "invalid regular expression: "},
      {"/q/taskTypes/1/patterns/2", "invalid regular expression: missing closing parenthesis"},
      {"/q/taskTypes/2/keyword", "unknown key \"keyword\" (did you mean \"keywords\"?)"},
      {"/q/taskTypes/2/id", "duplicate id \"a\" (also at /q/taskTypes/0)"},
      {"/q/taskTypes/3/keywords/1", "expected a string, got a number"},
      {"/q/taskTypes/4", "expected an object, got a string"},
      {"/q/defaultTaskType", "names no task type: \"standrd\""},
      {"/q/targets/32bit", "unknown key \"32bit\""},
      {"/q/targets/4bit", "expected an object, got a string"},
      {"/q/targets/8bit/modle", "unknown key \"modle\" (did you mean \"model\"?)"},
      {"/q/targets/8bit/provider", "expected a string, got a number"},
  };
  ASSERT_EQ(errors.size(), expected.size()) << Describe(errors);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(errors[i].pointer, expected[i].first) << Describe(errors);
    EXPECT_NE(errors[i].reason.find(expected[i].second), std::string::npos)
        << errors[i].reason << " lacks " << expected[i].second;
  }
  // PCRE2's message and the offset in the pattern as written.
  EXPECT_NE(errors[4].reason.find("at offset 9"), std::string::npos) << errors[4].reason;
}

TEST(TaskTypesValidationTest, StructuralProblems) {
  const std::vector<InvalidConfig> cases = {
      {R"([1, 2])", {{"/q", "expected an object, got an array"}}},
      {R"({"defaultTaskType": "x"})",
       {{"/q/taskTypes", "required array of task types is missing"}}},
      {R"({"taskTypes": {}})",
       {{"/q/taskTypes", "expected an array of task types, got an object"}}},
      {R"({"taskTypes": []})", {{"/q/taskTypes", "must not be empty"}}},
      {R"({"taskTypes": [{"precision": "4bit"}], "defaultTaskType": 3})",
       {{"/q/taskTypes/0/id", "required string is missing"},
        {"/q/defaultTaskType", "expected a string, got a number"}}},
      {R"({"taskTypes": [{"id": "", "precision": "4bit"}, {"id": "x"}]})",
       {{"/q/taskTypes/0/id", "must not be empty"},
        {"/q/taskTypes/1/precision", "required precision is missing"},
        {"/q/defaultTaskType", "required when no task type is named \"standard\""}}},
      {R"({"taskTypes": [{"id": "standard", "precision": 16, "keywords": "x", "patterns": [null]}],
           "targets": []})",
       {{"/q/taskTypes/0/precision", "got a number"},
        {"/q/taskTypes/0/keywords", "expected an array of strings, got a string"},
        {"/q/taskTypes/0/patterns/0", "expected a string, got null"},
        {"/q/targets", "expected an object, got an array"}}},
  };
  for (const InvalidConfig& invalid : cases) {
    ConfigErrors errors;
    EXPECT_EQ(
        TaskTypeDetector::Compile(ParseJson(invalid.json), "/q", TaskTypeMode::kFaithful, &errors),
        nullptr)
        << invalid.json;
    ASSERT_EQ(errors.size(), invalid.errors.size()) << invalid.json << "\n" << Describe(errors);
    for (size_t i = 0; i < errors.size(); ++i) {
      EXPECT_EQ(errors[i].pointer, invalid.errors[i].first) << invalid.json;
      EXPECT_NE(errors[i].reason.find(invalid.errors[i].second), std::string::npos)
          << errors[i].reason;
    }
  }
}

TEST(TaskTypesValidationTest, AcceptsThePluginsOwnKeys) {
  // Every key of the plugin's schema, description and target apiKey included.
  ConfigErrors errors;
  auto detector = TaskTypeDetector::Compile(ParseJson(R"({
    "enabled": true, "detectors": ["ruleDetector"], "judge": {}, "fallbackPolicy": "escalate",
    "modelPricing": {}, "defaultTaskType": "x",
    "taskTypes": [{"id": "x", "description": "", "precision": "8bit", "keywords": [],
                   "patterns": []}],
    "targets": {"8bit": {"provider": "p", "model": "m", "displayName": "d", "pricing": {},
                         "endpoint": "http://e", "api": "openai-completions", "apiKey": "k",
                         "customModule": ""}}
  })"),
                                            "", TaskTypeMode::kFaithful, &errors);
  EXPECT_NE(detector, nullptr);
  EXPECT_TRUE(errors.empty()) << Describe(errors);
  EXPECT_EQ(JoinPointer("", "a/b~c"), "/a~1b~0c");
  EXPECT_EQ(JoinPointer("/x", size_t{3}), "/x/3");
}

// A detector whose only task type has the given patterns.
std::shared_ptr<const TaskTypeDetector> PatternDetector(const std::vector<std::string>& patterns) {
  json::array pattern_array;
  for (const std::string& pattern : patterns) pattern_array.emplace_back(pattern);
  json::object task_type{{"id", "x"}, {"precision", "4bit"}, {"patterns", pattern_array}};
  json::object quant{{"taskTypes", json::array{task_type}}, {"defaultTaskType", "x"}};
  return CompileOrDie(quant, TaskTypeMode::kFaithful);
}

double SecondsFor(const TaskTypeDetector& detector, std::string_view prompt, TaskTypeMatch* match) {
  const auto start = std::chrono::steady_clock::now();
  *match = detector.Detect(prompt);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(TaskTypesMatchingTest, PathologicalPatternReturnsPromptly) {
  auto detector = PatternDetector({"(a+)+$"});
  ASSERT_NE(detector, nullptr);
  TaskTypeMatch match;
  // Catastrophic backtracking: PCRE2's match limit stops it; no match, no crash, no hang.
  EXPECT_LT(SecondsFor(*detector, std::string(30000, 'a') + "b", &match), 5.0);
  EXPECT_EQ(match.task_type, -1);
  EXPECT_EQ(match.pattern_hits, 0);
  EXPECT_TRUE(match.complex);
  // The same pattern still matches where it should.
  match = detector->Detect("aaaa");
  EXPECT_EQ(match.pattern_hits, 1);
  EXPECT_EQ(match.score, 14);
}

TEST(TaskTypesMatchingTest, QuadraticPatternsStayBounded) {
  // Slow at every start position of a long line, and not a lookahead conjunction: the step budget
  // ends the search. Two such patterns on a 60,000-character line.
  auto detector = PatternDetector({"(?=.*foo)(?!.*bar).*$", "(?:.*,)*!"});
  ASSERT_NE(detector, nullptr);
  TaskTypeMatch match;
  EXPECT_LT(SecondsFor(*detector, std::string(60000, 'x'), &match), 5.0);
  EXPECT_EQ(match.pattern_hits, 0);
  match = detector->Detect("foo!");
  EXPECT_EQ(match.pattern_hits, 2);
}

// 64 KiB of short lines of "a": each line start costs a hostile lookahead up to PCRE2's per-start
// match limit, so without a bound shared by the whole message one pattern took seconds.
std::string HostileMessage() {
  std::string message;
  while (message.size() + 31 <= 64 * 1024) message += std::string(30, 'a') + "\n";
  return "c\n" + message;  // a "c" up front, so no prefilter can skip the patterns
}

// A hostile pattern in many spellings, so that no two are the same regex.
std::vector<std::string> HostilePatterns(int count) {
  std::vector<std::string> patterns;
  for (int i = 0; i < count; ++i) {
    patterns.push_back("(?=.*(?:a|aa)+c)(?:z{" + std::to_string(i) + "})?");
  }
  return patterns;
}

// The bound: all of one message's pattern matching shares one step budget, lookaheads included (about
// 10 ms of work in a Release build here). Unbounded, one such pattern took 2 to 7 s, and 64 took minutes.
// Held as work, not as a time a build must meet: 64 patterns cost about what one does, and even a
// sanitized Debug build (several times slower) stays far under a second.
TEST(TaskTypesMatchingTest, HostileLookaheadsAreBoundedPerMessage) {
  const std::string message = HostileMessage();
  double one_pattern_seconds = 0;
  for (int count : {1, 4, 64}) {
    auto detector = PatternDetector(HostilePatterns(count));
    ASSERT_NE(detector, nullptr);
    TaskTypeMatch match;
    // The least of three: the bound is on work, and a neighbour's load only adds to the time.
    double seconds = 1e9;
    for (int run = 0; run < 3; ++run) seconds = std::min(seconds, SecondsFor(*detector, message, &match));
    if (count == 1) one_pattern_seconds = seconds;
    EXPECT_LT(seconds, 0.5) << count << " patterns";
    EXPECT_LT(seconds, 3 * one_pattern_seconds + 0.01) << count << " patterns share one budget";
    EXPECT_EQ(match.pattern_hits, 0) << count << " patterns";
    EXPECT_TRUE(match.pattern_budget_exhausted) << count << " patterns";
    // The same patterns still match where they should.
    match = detector->Detect("aac");
    EXPECT_EQ(match.pattern_hits, count);
    EXPECT_FALSE(match.pattern_budget_exhausted);
  }
}

// The plugin's own patterns are proven linear and run outside the budget: 64 KiB of ordinary prompts,
// full of the words they look for, is decided in full.
TEST_F(TaskTypesTest, OrdinaryLongMessageKeepsItsBudget) {
  std::string message;
  while (message.size() < 64 * 1024) {
    message += "incident: check the scheduled jobs and the open tickets; 定时任务 工单 api health check\n"
               "vendor evaluation, scanned U.S. Treasury Bulletin page treasury_bulletin_1998.pdf\n";
  }
  for (const auto& detector : {faithful_, improved_}) {
    TaskTypeMatch match;
    EXPECT_LT(SecondsFor(*detector, message, &match), 0.5);
    EXPECT_FALSE(match.pattern_budget_exhausted);
    // ops's first, second and fourth patterns lead; office_qa's third and fourth follow: 42, 28.
    EXPECT_EQ(detector->task_type(match.task_type).id, "ops");
    ExpectMatch(match, 42, 28, 3, 0, true);
  }
}

TEST_F(TaskTypesTest, LongLinesAndTheSubjectCap) {
  TaskTypeMatch match;
  // The plugin's lookahead patterns on a 60,000-character line run in linear time, and still find
  // what JavaScript finds: "crm" first, then the operations terms (see NegativeLookahead).
  const std::string filler(60000, 'y');
  EXPECT_LT(SecondsFor(*faithful_, "crm " + filler + " open support tickets, categorize", &match),
            5.0);
  EXPECT_EQ(Winner(*faithful_, match), "operations");
  // ops's second pattern on a line after a long one.
  EXPECT_EQ(Faithful(filler + "\nplease check the api health check", &match), "ops");
  ExpectMatch(match, 14, 0, 1, 0, true);
  // Patterns see the first 64 KiB only.
  EXPECT_EQ(Faithful("tech newsletter " + std::string(70000, 'x'), &match), "content");
  EXPECT_EQ(Faithful(std::string(70000, 'x') + " tech newsletter", &match), "");
  ExpectMatch(match, 0, 0, 0, 0, true);
}

TEST_F(TaskTypesTest, InvalidUtf8IsReplacedNotFatal) {
  TaskTypeMatch match;
  // Trailing garbage becomes U+FFFD, which is no token: coding 12 as before.
  EXPECT_EQ(Faithful("debug this python script bug \xff\xfe", &match), "coding");
  ExpectMatch(match, 12, 0, 0, 4, false);
  // A bad byte inside a word splits it: "debug the python code" is coding's debug + python + code
  // = 9, but "deb" and "ug" are no keywords: python + code = 6 < 8.
  EXPECT_EQ(Faithful("debug the python code", &match), "coding");
  ExpectMatch(match, 9, 0, 0, 3, false);
  EXPECT_EQ(Faithful("deb\xffug the python code", &match), "");
  ExpectMatch(match, 6, 0, 0, 2, false);
  // A truncated sequence at the end, and patterns after a bad byte: procurement's pattern
  // 供应商评估 14 + keyword 供应商 5 = 19.
  EXPECT_EQ(Faithful("\xc0\xaf 供应商评估 \xe4\xb8", &match), "procurement");
  ExpectMatch(match, 19, 0, 1, 1, false);
  // Only invalid bytes: U+FFFD is not whitespace, so the prompt is not empty, yet nothing scores.
  EXPECT_EQ(Faithful("\x80\x80\x80", &match), "");
  ExpectMatch(match, 0, 0, 0, 0, false);
}

TEST_F(TaskTypesTest, EmptyPromptDeclines) {
  TaskTypeMatch match;
  EXPECT_EQ(Faithful("  \n\t\u3000 ", &match), "");
  ExpectMatch(match, 0, 0, 0, 0, false);
}

TEST_F(TaskTypesTest, ConcurrentDetectMatchesSerial) {
  const std::vector<std::string> prompts = {
      "debug this python script bug",
      "Please do a vendor evaluation of these three suppliers",
      "summarize and explain the python code kernel",
      "debug the python script that syncs email with the crm",
      "Schedule a meeting with Bob in a free slot next week",
      "In the crm, open support tickets need someone to categorize them",
      "Go through the open support tickets, categorize them and update the crm",
      "请帮我做一个采购建议，比较供应商",
      "explain, summarize and compare the capital budget in this email",
      std::string(20000, 'z') + "\nplease check the api health check",
      "\xc0\xaf 供应商评估 \xe4\xb8",
  };
  for (const auto& detector : {faithful_, improved_}) {
    std::vector<TaskTypeMatch> serial;
    for (const std::string& prompt : prompts) serial.push_back(detector->Detect(prompt));
    constexpr int kThreads = 8;
    constexpr int kRounds = 20;
    std::vector<int> mismatches(kThreads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int round = 0; round < kRounds; ++round) {
          for (size_t i = 0; i < prompts.size(); ++i) {
            // Each thread walks the prompts from a different place, so threads differ in step.
            const size_t index = (i + static_cast<size_t>(t)) % prompts.size();
            const TaskTypeMatch match = detector->Detect(prompts[index]);
            const TaskTypeMatch& expected = serial[index];
            if (match.task_type != expected.task_type || match.score != expected.score ||
                match.runner_up_score != expected.runner_up_score ||
                match.pattern_hits != expected.pattern_hits ||
                match.keyword_hits != expected.keyword_hits || match.complex != expected.complex) {
              ++mismatches[static_cast<size_t>(t)];
            }
          }
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[static_cast<size_t>(t)], 0) << t;
    // And the serial results are the expected decisions, not merely consistent ones.
    EXPECT_EQ(Winner(*detector, serial[0]), "coding");
    EXPECT_EQ(Winner(*detector, serial[5]), "operations");
    EXPECT_EQ(Winner(*detector, serial[9]), "ops");
  }
}

// The plugin's own router tests (test/quant-router.test.ts at commit 81f9f5770cd4), ported as data:
// each test's quant object and message, the answer its stubbed fetch gives the judge, and what each
// mode decides. Faithful decides as the plugin does, including where the plugin fails its own test
// ("uses ruleDetector keyword rules without calling the judge": simple is not on its keyword list, so
// the rules decline and the default task type, reasoning, applies); improved passes all five.
// The plugin's reasons ("keyword:release note", "detector=loadModelDetector") are not ours; ours are
// held to what they say instead (a rule score, the judge, the default).
struct RouterTestCase {
  const char* name;     // the plugin test's title
  const char* quant;    // its mergeConfig argument
  const char* message;  // its context.message
  const char* judge_answer;  // the taskTypeId its stubbed fetch returns; "" when it stubs none
  struct Expected {
    const char* task_type;
    const char* tier;    // cheap, mid, best: the tiers standing for its 4bit, 8bit, 16bit targets
    int judge_calls;
    const char* reason;  // a part of our decision's reason
  };
  Expected faithful;
  Expected improved;
};

// The targets every one of the five tests gives.
#define QC_PLUGIN_TARGETS                                              \
  R"("targets": {"4bit": {"provider": "openai", "model": "cheap-model"}, )" \
  R"("8bit": {"provider": "openai", "model": "mid-model"}, )"             \
  R"("16bit": {"provider": "openai", "model": "best-model"}})"
#define QC_PLUGIN_JUDGE                                                    \
  R"("judge": {"endpoint": "http://localhost:11434", "model": "judge-model", )" \
  R"("providerType": "openai-compatible", "cacheTtlMs": 300000})"

const RouterTestCase kPluginRouterTests[] = {
    {"routes to the classified precision target",
     R"({"detectors": ["loadModelDetector"], )" QC_PLUGIN_JUDGE R"(,
         "taskTypes": [{"id": "simple", "precision": "4bit", "description": "tiny tasks"},
                       {"id": "reasoning", "precision": "16bit", "description": "hard tasks"}],
         "defaultTaskType": "reasoning", )" QC_PLUGIN_TARGETS "}",
     "say hello", "simple",
     {"simple", "cheap", 1, "(LLM judge; rules declined)"},
     {"simple", "cheap", 1, "(LLM judge; rules declined)"}},
    {"falls back to the default task type when judge output is invalid",
     R"({"detectors": ["loadModelDetector"], )" QC_PLUGIN_JUDGE R"(,
         "taskTypes": [{"id": "simple", "precision": "4bit", "description": "tiny tasks"},
                       {"id": "standard", "precision": "8bit", "description": "normal tasks"}],
         "defaultTaskType": "standard", )" QC_PLUGIN_TARGETS "}",
     "write a longer report", "unknown",
     {"standard", "mid", 1, "default task type standard"},
     {"standard", "mid", 1, "default task type standard"}},
    {"uses ruleDetector keyword rules without calling the judge",
     R"({"detectors": ["ruleDetector"],
         "taskTypes": [{"id": "simple", "precision": "4bit", "description": "tiny tasks",
                        "keywords": ["release note", "rewrite"]},
                       {"id": "reasoning", "precision": "16bit", "description": "hard tasks",
                        "keywords": ["deep debugging"]}],
         "defaultTaskType": "reasoning", )" QC_PLUGIN_TARGETS "}",
     "rewrite this release note", "",
     // The plugin's own result: its test expects simple and fails.
     {"reasoning", "best", 0, "default task type reasoning"},
     // "release note" 5 (a phrase) + rewrite 3 = 8 from two keywords; lead 8.
     {"simple", "cheap", 0, "task type simple (rule score 8, lead 8)"}},
    {"uses ruleDetector regex patterns without calling the judge",
     R"({"detectors": ["ruleDetector"],
         "taskTypes": [{"id": "simple", "precision": "4bit", "description": "tiny tasks"},
                       {"id": "reasoning", "precision": "16bit", "description": "hard tasks",
                        "patterns": ["multi[- ]file", "debug(ging)?"]}],
         "defaultTaskType": "simple", )" QC_PLUGIN_TARGETS "}",
     "need multi-file debugging help", "",
     // Two patterns, 14 each.
     {"reasoning", "best", 0, "task type reasoning (rule score 28, lead 28)"},
     {"reasoning", "best", 0, "task type reasoning (rule score 28, lead 28)"}},
    {"falls through from ruleDetector to loadModelDetector when no rule matches",
     R"({"detectors": ["ruleDetector", "loadModelDetector"], )" QC_PLUGIN_JUDGE R"(,
         "taskTypes": [{"id": "simple", "precision": "4bit", "description": "tiny tasks",
                        "keywords": ["release note"]},
                       {"id": "reasoning", "precision": "16bit", "description": "hard tasks",
                        "keywords": ["deep debugging"]}],
         "defaultTaskType": "simple", )" QC_PLUGIN_TARGETS "}",
     "analyse this compiler bug thoroughly", "reasoning",
     {"reasoning", "best", 1, "(LLM judge; rules declined)"},
     {"reasoning", "best", 1, "(LLM judge; rules declined)"}},
};

#undef QC_PLUGIN_TARGETS
#undef QC_PLUGIN_JUDGE

// The stubbed fetch: answers every call with the same taskTypeId. As HttpJudge does, an id the
// config does not name is no answer (the plugin resolves "unknown" to its default task type too).
class StubJudge final : public TaskTypeJudge {
 public:
  explicit StubJudge(std::string answer) : answer_(std::move(answer)) {}
  std::string Classify(const JudgeConfig& judge, const TaskTypeDetector& detector,
                       std::string_view prompt) override {
    (void)judge;
    (void)prompt;
    ++calls;
    return detector.FindTaskType(answer_) >= 0 ? answer_ : std::string();
  }
  int calls = 0;

 private:
  std::string answer_;
};

TEST(TaskTypesPluginRouterTest, ThePluginsFiveRouterTests) {
  for (const RouterTestCase& test : kPluginRouterTests) {
    for (const char* mode : {"faithful", "improved"}) {
      SCOPED_TRACE(std::string(test.name) + " [" + mode + "]");
      const RouterTestCase::Expected& expected =
          std::string_view(mode) == "faithful" ? test.faithful : test.improved;
      const std::string json = std::string(R"({"tiers": [
          {"name": "best", "format": "bf16", "base_url": "http://h/v1", "model": "best-model"},
          {"name": "mid", "format": "fp8", "base_url": "http://h/v1", "model": "mid-model"},
          {"name": "cheap", "format": "int4", "base_url": "http://h/v1", "model": "cheap-model"}],
        "policy": {"scorer": {"kind": "quantclaw", "mode": ")") +
                               mode + R"(", "quant": )" + test.quant + "}}}";
      ConfigErrors errors;
      auto config = ParseRouterConfig(json, &errors);
      ASSERT_NE(config, nullptr) << Describe(errors);
      const QuantClawScorer* scorer = config->quantclaw_scorer();
      ASSERT_NE(scorer, nullptr);

      StubJudge judge(test.judge_answer);
      SessionPolicyState state;
      ClassifyTurn(config->policy, test.message, &state, &judge);
      SessionFeatures features;
      RoutingDecision decision;
      Decide(*config, config->policy, features, &state, nullptr, 0.5, &decision);

      const std::string task_type =
          state.task_type.empty()
              ? scorer->detector->task_type(scorer->detector->default_task_type()).id
              : std::string(state.task_type.view());
      EXPECT_EQ(task_type, expected.task_type);
      ASSERT_LT(decision.tier, config->tiers.size());
      EXPECT_EQ(config->tiers[decision.tier].name, expected.tier);
      EXPECT_EQ(judge.calls, expected.judge_calls);
      EXPECT_NE(std::string_view(decision.reason).find(expected.reason), std::string_view::npos)
          << decision.reason;
    }
  }
}

// -------------------------------------------------------------------------------------------------
// The literal prefilter: what it extracts, and that it never changes a decision.

using internal::ExtractRequiredLiterals;
using internal::RequiredLiterals;

TEST(TaskTypesPrefilterTest, RequiredLiterals) {
  EXPECT_EQ(ExtractRequiredLiterals("Vendor Evaluation"), (RequiredLiterals{{"vendor evaluation"}}));
  // Lookaheads require their bodies, one literal of each alternative; negative ones nothing.
  EXPECT_EQ(ExtractRequiredLiterals("(?=.*(?:scheduled jobs?|定时任务|自动化任务))(?=.*(?:tickets?|工单|"
                                    "helpdesk))(?!.*(?:crm|SLA)).*"),
            (RequiredLiterals{{"scheduled job", "定时任务", "自动化任务"}, {"ticket", "工单", "helpdesk"}}));
  // Optional and repeated items end a literal; escaped punctuation is literal.
  EXPECT_EQ(ExtractRequiredLiterals(R"(scanned\s+u\.?s\.?\s+treasury)"),
            (RequiredLiterals{{"scanned"}, {"u"}, {"s"}, {"treasury"}}));
  EXPECT_EQ(ExtractRequiredLiterals("ab+c(?:de)*f"), (RequiredLiterals{{"ab"}, {"c"}, {"f"}}));
  EXPECT_EQ(ExtractRequiredLiterals(R"(\.gitignore)"), (RequiredLiterals{{".gitignore"}}));
  EXPECT_EQ(ExtractRequiredLiterals("(?<=x)y(?<!z)"), (RequiredLiterals{{"x"}, {"y"}}));
  // A letter with case forms beyond ASCII ends a literal (ß is also ẞ; Ω also U+2126).
  EXPECT_EQ(ExtractRequiredLiterals("straße"), (RequiredLiterals{{"stra"}, {"e"}}));
  EXPECT_EQ(ExtractRequiredLiterals("Ωmega"), (RequiredLiterals{{"mega"}}));
  // Nothing provable: an empty alternative, escapes with payloads, inline options, backreferences.
  for (const char* pattern : {"a|", R"(\x41)", R"(\u0041)", "(?i)a", R"((a)\1)", "x{,3}", "(*UTF)a"}) {
    EXPECT_EQ(ExtractRequiredLiterals(pattern), RequiredLiterals{}) << pattern;
  }
  // One literal that cannot be proven keeps its alternation from requiring anything.
  EXPECT_EQ(ExtractRequiredLiterals("(?:a|ω)b"), (RequiredLiterals{{"b"}}));
}

// Prompts for the differential test: the bench's 200, the episodes' user messages, and prompts of
// the tests above.
std::vector<std::string> CorpusPrompts() {
  std::vector<std::string> prompts;
  std::ifstream bench(std::string(QC_TEST_DATA_DIR) + "/quantclaw-prompts.txt");
  for (std::string line; std::getline(bench, line);) {
    for (size_t at = line.find("\\n"); at != std::string::npos; at = line.find("\\n", at)) {
      line.replace(at, 2, "\n");
    }
    prompts.push_back(line);
  }
  EXPECT_GE(prompts.size(), 200u);
  for (const char* episodes : {"quantclaw-turns.jsonl", "research-agent.jsonl"}) {
    std::ifstream file(std::string(QC_TEST_DATA_DIR) + "/../../examples/episodes/" + episodes);
    EXPECT_TRUE(file.good()) << episodes;
    for (std::string line; std::getline(file, line);) {
      const json::value step = ParseJson(line);
      const json::value* messages = step.is_object() ? step.as_object().if_contains("messages") : nullptr;
      if (messages == nullptr || !messages->is_array()) continue;
      for (const json::value& message : messages->as_array()) {
        const json::value* content = message.as_object().if_contains("content");
        if (content != nullptr && content->is_string()) prompts.emplace_back(content->as_string());
      }
    }
  }
  for (const char* prompt :
       {"debug this python script bug", "Please do a vendor evaluation of these three suppliers",
        "In the crm, open support tickets need someone to categorize them",
        "Go through the open support tickets, categorize them and update the crm",
        "请帮我做一个采购建议，比较供应商", "待处理工单 分类 优先级", "待处理工单 分类 CRM",
        "SCANNED U.S. TREASURY BULLETIN page 4 <FINAL_ANSWER>", "treasury_bulletin_1998_03.pdf",
        "schedule a sync meeting in a free slot", "ſcheduled jobs and \u212Aelvin tickets",
        "incident\ntickets", "incident tickets\r\nscheduled job api"}) {
    prompts.emplace_back(prompt);
  }
  return prompts;
}

// Mutations that move literals in and out of reach: case flips, the two non-ASCII letters that
// match s and k, cut words, line breaks, splices of two prompts, and CJK characters.
std::string Mutate(const std::string& prompt, const std::vector<std::string>& corpus,
                   std::mt19937* random) {
  std::string out = prompt;
  const auto pick = [&](size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(*random); };
  const int edits = 1 + static_cast<int>(pick(4));
  for (int e = 0; e < edits; ++e) {
    const size_t at = pick(out.size() + 1);
    switch (pick(7)) {
      case 0:
        for (char& c : out) c = (c >= 'a' && c <= 'z' && pick(2) == 0) ? static_cast<char>(c - 32) : c;
        break;
      case 1:
        for (size_t i = out.find('s'); i != std::string::npos; i = out.find('s', i + 2)) {
          if (pick(2) == 0) out.replace(i, 1, "\u017F");
        }
        break;
      case 2:
        for (size_t i = out.find('k'); i != std::string::npos; i = out.find('k', i + 3)) {
          if (pick(2) == 0) out.replace(i, 1, "\u212A");
        }
        break;
      case 3:
        if (at < out.size() && static_cast<unsigned char>(out[at]) < 0x80) out.erase(at, 1 + pick(3));
        break;
      case 4:
        if (at < out.size() && static_cast<unsigned char>(out[at]) < 0x80) {
          out.insert(at, pick(2) == 0 ? "\n" : "\r");
        }
        break;
      case 5:
        out += " " + corpus[pick(corpus.size())];
        break;
      default:
        out += pick(2) == 0 ? " 工单 定时任务 集成" : " 供应商评估 图片路径是";
        break;
    }
  }
  return out;
}

void ExpectSameMatch(const TaskTypeMatch& a, const TaskTypeMatch& b, const std::string& prompt) {
  EXPECT_EQ(a.task_type, b.task_type) << prompt;
  EXPECT_EQ(a.score, b.score) << prompt;
  EXPECT_EQ(a.runner_up_score, b.runner_up_score) << prompt;
  EXPECT_EQ(a.pattern_hits, b.pattern_hits) << prompt;
  EXPECT_EQ(a.keyword_hits, b.keyword_hits) << prompt;
  EXPECT_EQ(a.complex, b.complex) << prompt;
  EXPECT_EQ(a.pattern_budget_exhausted, b.pattern_budget_exhausted) << prompt;
}

// Detect (prefilter and keyword index) against the reference path that runs every pattern and tests
// every keyword, in both modes, on every prompt; how many prompts the fast path decided.
int ExpectFastPathAgrees(const json::value& quant, const std::vector<std::string>& prompts) {
  int decided = 0;
  for (TaskTypeMode mode : {TaskTypeMode::kFaithful, TaskTypeMode::kImproved}) {
    auto detector = CompileOrDie(quant, mode);
    EXPECT_NE(detector, nullptr);
    if (detector == nullptr) return decided;
    for (const std::string& prompt : prompts) {
      const TaskTypeMatch fast = detector->Detect(prompt);
      ExpectSameMatch(fast, detector->DetectRunningEveryPattern(prompt), prompt);
      decided += fast.task_type >= 0 ? 1 : 0;
    }
  }
  return decided;
}

TEST_F(TaskTypesTest, PrefilterNeverChangesADecision) {
  std::vector<std::string> prompts = CorpusPrompts();
  const size_t corpus_size = prompts.size();
  std::mt19937 random(20261129);
  for (int round = 0; round < 20; ++round) {
    for (size_t i = 0; i < corpus_size; ++i) prompts.push_back(Mutate(prompts[i], prompts, &random));
  }
  // The example config, and one whose patterns exercise the extraction's other paths.
  json::value extra = ExampleQuant();
  json::array& task_types = extra.as_object()["taskTypes"].as_array();
  task_types.emplace_back(json::object{
      {"id", "extra"},
      {"precision", "4bit"},
      {"patterns", json::array{"colou?r\\s+(?:chart|table)s?", "(?<=the )api(?! key)", "(?:ab|cd)+ef",
                               "\\.gitignore|readme\\.md", "jobs{2,}", "ſcheduled", "\u212Aelvin",
                               "(?=.*(?:script|code))(?!.*bug).*"}}});
  int decided = 0;
  for (const json::value& quant : {ExampleQuant(), extra}) decided += ExpectFastPathAgrees(quant, prompts);
  // Not a corpus that the rules mostly decline: decisions are what is being compared.
  EXPECT_GT(decided, static_cast<int>(prompts.size()));
}

// The keyword index (task_types/keywords.h) and the ASCII tokenizer against the reference path, on
// keywords chosen for the corners: forms shared by two keywords ("tax" / "taxes", "ab" / "abs"),
// stop words and one-letter words (never tokens), a keyword listed twice, keywords the tokenizer can
// never produce ("c++", "-dash"), case and width (U+0130, U+017F, U+212A, ß, é), CJK single and
// paired, phrases, and the empty keyword; prompts are random mixes of them, their plurals and
// neighbours, joined by what does and does not split a token.
TEST_F(TaskTypesTest, KeywordIndexNeverChangesADecision) {
  const std::vector<std::string> keywords = {
      "tax", "taxes", "ab", "abs", "it", "a", "x", "data-set", "under_score", "c++", "-dash",
      "duplicate", "duplicate", "ſcheduled", "kelvin", "café", "naïve résumé", "工单", "工",
      "  Mixed Case  ", "", "STRASSE", "straße", "İstanbul", "emoji😀", "财务 系统", "api", "crm",
      "email", "calendar", "ticket", "knowledge base", "todo"};
  json::array task_types;
  // Ids the plugin's allow-list has (faithful mode counts their keywords), one it does not, and one
  // of improved mode's keyword-less five.
  const std::vector<std::string> ids = {"research", "coding", "finance", "custom", "ops", "standard"};
  for (size_t t = 0; t < ids.size(); ++t) {
    json::array own;
    for (size_t k = t; k < keywords.size(); k += ids.size() - 1) own.emplace_back(keywords[k]);
    own.emplace_back(keywords[(t * 7) % keywords.size()]);  // some keywords in two task types
    task_types.emplace_back(json::object{{"id", ids[t]}, {"precision", "8bit"}, {"keywords", own}});
  }
  const json::value quant = json::object{{"taskTypes", task_types}, {"defaultTaskType", "standard"}};

  std::vector<std::string> words;
  for (std::string keyword : keywords) {
    words.push_back(keyword);
    words.push_back(keyword + "s");
    words.push_back(keyword + "es");
    words.push_back(keyword + "er");
    std::transform(keyword.begin(), keyword.end(), keyword.begin(),
                   [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; });
    words.push_back(keyword);
  }
  for (const char* word : {"the", "and", "is", "of", "1.", "42", "系统", "Ⅻ", "x_y", "ſ", "K", "ǅ"}) {
    words.emplace_back(word);
  }
  const std::vector<std::string> joins = {" ", "  ", "\n", "\n2. ", "-", "_", ",", ".", "", "é", "工", "'"};
  std::mt19937 random(1129);
  const auto pick = [&random](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(random); };
  std::vector<std::string> prompts;
  for (int i = 0; i < 3000; ++i) {
    std::string prompt;
    const size_t count = 1 + pick(8);
    for (size_t w = 0; w < count; ++w) {
      if (w > 0) prompt += joins[pick(joins.size())];
      prompt += words[pick(words.size())];
    }
    prompts.push_back(prompt);
  }
  const int decided = ExpectFastPathAgrees(quant, prompts);
  // Keywords decide here (there are no patterns): a fair share of the prompts must be decided.
  EXPECT_GT(decided, 200);
}

}  // namespace
}  // namespace quantclaw
