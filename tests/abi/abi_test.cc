// The C ABI as a host meets it: the library is dlopened (no link to libquantclaw) and every call goes
// through the qc_plugin table, so these tests see exactly the exported contract of quantclaw.h.
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "learned_model_file.h"
#include "quantclaw/quantclaw.h"

#ifndef QC_LIBRARY_PATH
#error "QC_LIBRARY_PATH must name the built libquantclaw.so"
#endif
#ifndef QC_EXAMPLES_DIR
#error "QC_EXAMPLES_DIR must name the examples directory"
#endif

namespace {

// ---------------------------------------------------------------------------------------------------
// Loading

struct LoadedLibrary {
  void* handle = nullptr;
  const qc_plugin* plugin = nullptr;
  std::string error;
};

// Loaded once for the whole binary and never closed: a test that fails mid-way must not leave later
// tests calling into an unloaded library.
const LoadedLibrary& Library() {
  static const LoadedLibrary loaded = [] {
    LoadedLibrary result;
    result.handle = dlopen(QC_LIBRARY_PATH, RTLD_NOW | RTLD_LOCAL);
    if (result.handle == nullptr) {
      result.error = std::string("dlopen(") + QC_LIBRARY_PATH + "): " + dlerror();
      return result;
    }
    auto entry = reinterpret_cast<qc_plugin_entry_fn>(dlsym(result.handle, QC_PLUGIN_ENTRY_SYMBOL));
    if (entry == nullptr) {
      result.error = std::string("dlsym(" QC_PLUGIN_ENTRY_SYMBOL "): ") + dlerror();
      return result;
    }
    result.plugin = entry(QC_ABI_VERSION_MAJOR);
    if (result.plugin == nullptr) result.error = "qc_plugin_entry(QC_ABI_VERSION_MAJOR) returned NULL";
    return result;
  }();
  return loaded;
}

// ---------------------------------------------------------------------------------------------------
// Messages

// Tiers point at a port nothing listens on: routing never connects. The ladder, lowest first, is
// w4a16 (index 2) < fp8 (index 1) < bf16 (index 0); scores above 0.25 reach fp8, above 0.75 bf16. No
// budget, so a decision depends only on its own session's steps and never on other sessions.
std::string TestConfig(std::string_view default_score = "0.2", std::string_view max_message_bytes = "1024") {
  std::string config = R"({
  "tiers": [
    {"name": "bf16", "format": "bf16", "base_url": "http://127.0.0.1:1/v1", "model": "m"},
    {"name": "fp8", "format": "fp8", "base_url": "http://127.0.0.1:1/v1", "model": "m-fp8"},
    {"name": "w4a16", "format": "w4a16", "base_url": "http://127.0.0.1:1/v1", "model": "m-awq"}
  ],
  "reference_tier": "bf16",
  "policy": {
    "force": [{"when": {"step_kind": "search"}, "tier": "bf16"}],
    "scorer": {"kind": "rules", "default_score": DEFAULT_SCORE, "rules": [
      {"when": {"recent_tool_errors_ge": 1}, "score": 0.85},
      {"when": {"step_kind": "final"}, "score": 0.8},
      {"when": {"step_kind": ["read", "act"]}, "score": 0.5}
    ]},
    "thresholds": [0.25, 0.75],
    "escalation": {"on_invalid_tool_call": true}
  },
  "limits": {"max_sessions": 100000, "session_idle_seconds": 3600, "max_message_bytes": MAX_MESSAGE_BYTES}
})";
  config.replace(config.find("DEFAULT_SCORE"), std::strlen("DEFAULT_SCORE"), default_score);
  config.replace(config.find("MAX_MESSAGE_BYTES"), std::strlen("MAX_MESSAGE_BYTES"), max_message_bytes);
  return config;
}

constexpr uint32_t kTierBf16 = 0;
constexpr uint32_t kTierFp8 = 1;
constexpr uint32_t kTierW4a16 = 2;

std::string StepJson(std::string_view session_id, uint64_t step_index, std::string_view step_kind,
                     std::string_view messages = R"([{"role": "user", "content": "hello"}])",
                     std::string_view extra_hints = "") {
  std::string json = "{\"session_id\": \"";
  json.append(session_id).append("\", \"step_index\": ").append(std::to_string(step_index));
  json.append(", \"messages\": ").append(messages);
  json.append(", \"hints\": {\"step_kind\": \"").append(step_kind).append("\"");
  json.append(extra_hints).append("}}");
  return json;
}

std::string RequestJson(std::string_view session_id) {
  return std::string("{\"session_id\": \"").append(session_id).append("\"}");
}

// Protobuf wire format by hand, so the binary path is tested without linking protobuf.
void AppendVarint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

void AppendVarintField(std::string* out, uint32_t field, uint64_t value) {
  AppendVarint(out, (uint64_t{field} << 3) | 0);
  AppendVarint(out, value);
}

void AppendBytesField(std::string* out, uint32_t field, std::string_view payload) {
  AppendVarint(out, (uint64_t{field} << 3) | 2);
  AppendVarint(out, payload.size());
  out->append(payload);
}

// quantclaw.v1.Step{session_id, step_index, messages: [{role, content: Value{string_value}}],
// hints: {step_kind}}: the binary twin of StepJson's default step.
std::string StepProtobuf(std::string_view session_id, uint64_t step_index, std::string_view step_kind,
                         std::string_view role = "user", std::string_view content = "hello") {
  std::string content_value;
  AppendBytesField(&content_value, 3, content);  // google.protobuf.Value.string_value
  std::string message;
  AppendBytesField(&message, 1, role);
  AppendBytesField(&message, 2, content_value);
  std::string hints;
  AppendBytesField(&hints, 1, step_kind);
  std::string step;
  AppendBytesField(&step, 1, session_id);
  AppendVarintField(&step, 2, step_index);
  AppendBytesField(&step, 3, message);
  AppendBytesField(&step, 5, hints);
  return step;
}

qc_bytes Bytes(std::string_view text) {
  return qc_bytes{reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

qc_decision EmptyDecision() {
  qc_decision decision;
  std::memset(&decision, 0, sizeof(decision));
  decision.struct_size = sizeof(decision);
  return decision;
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

// ---------------------------------------------------------------------------------------------------
// Fixture

class AbiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(Library().plugin, nullptr) << Library().error;
    api_ = Library().plugin;
    router_ = NewRouter(TestConfig());
    ASSERT_NE(router_, nullptr);
  }

  void TearDown() override {
    if (router_ != nullptr) {
      EXPECT_EQ(api_->router_free(router_), QC_OK) << LastError();
    }
  }

  qc_router* NewRouter(const std::string& config) {
    qc_router* router = nullptr;
    int32_t status = api_->router_new(config.data(), config.size(), &router);
    EXPECT_EQ(status, QC_OK) << LastError();
    return router;
  }

  std::string LastError() const { return api_->last_error(); }

  int32_t OnStep(qc_router* router, std::string_view step, uint32_t format = QC_FORMAT_JSON) {
    qc_bytes bytes = Bytes(step);
    return api_->on_step(router, &bytes, format);
  }
  int32_t OnStep(std::string_view step, uint32_t format = QC_FORMAT_JSON) { return OnStep(router_, step, format); }

  int32_t Choose(qc_router* router, std::string_view session_id, qc_decision* decision) {
    std::string request = RequestJson(session_id);
    qc_bytes bytes = Bytes(request);
    *decision = EmptyDecision();
    return api_->choose_precision(router, &bytes, QC_FORMAT_JSON, decision);
  }
  int32_t Choose(std::string_view session_id, qc_decision* decision) { return Choose(router_, session_id, decision); }

  int32_t ReportOutcome(std::string_view outcome_json) {
    qc_bytes bytes = Bytes(outcome_json);
    return api_->report_outcome(router_, &bytes, QC_FORMAT_JSON);
  }

  std::string MetricsText(qc_router* router) {
    qc_buffer buffer;
    std::memset(&buffer, 0, sizeof(buffer));
    buffer.struct_size = sizeof(buffer);
    int32_t status = api_->metrics(router, &buffer);
    EXPECT_EQ(status, QC_OK) << LastError();
    if (status != QC_OK) return "";
    std::string text(reinterpret_cast<const char*>(buffer.data), buffer.size);
    EXPECT_EQ(buffer.data[buffer.size], '\0');
    api_->buffer_free(&buffer);
    EXPECT_EQ(buffer.data, nullptr);
    EXPECT_EQ(buffer.size, 0u);
    return text;
  }

  const qc_plugin* api_ = nullptr;
  qc_router* router_ = nullptr;
};

void ExpectSameDecision(const qc_decision& actual, const qc_decision& expected) {
  EXPECT_EQ(actual.tier_index, expected.tier_index);
  EXPECT_STREQ(actual.tier_name, expected.tier_name);
  EXPECT_EQ(actual.flags, expected.flags);
  EXPECT_EQ(actual.prefill_tier_index, expected.prefill_tier_index);
  EXPECT_EQ(actual.step_index, expected.step_index);
  EXPECT_EQ(actual.score, expected.score);
  EXPECT_EQ(actual.threshold, expected.threshold);
  EXPECT_STREQ(actual.step_kind, expected.step_kind);
  EXPECT_STREQ(actual.reason, expected.reason);
}

// ---------------------------------------------------------------------------------------------------
// The table

TEST_F(AbiTest, PluginTableIsCompleteAndMatchesTheExports) {
  EXPECT_EQ(api_->struct_size, sizeof(qc_plugin));
  EXPECT_EQ(api_->abi_version, static_cast<uint32_t>(QC_ABI_VERSION));
  ASSERT_NE(api_->abi_version_fn, nullptr);
  EXPECT_EQ(api_->abi_version_fn(), static_cast<uint32_t>(QC_ABI_VERSION));
  void* handle = Library().handle;
  EXPECT_EQ(reinterpret_cast<void*>(api_->router_new), dlsym(handle, "qc_router_new"));
  EXPECT_EQ(reinterpret_cast<void*>(api_->router_free), dlsym(handle, "qc_router_free"));
  EXPECT_EQ(reinterpret_cast<void*>(api_->router_reload), dlsym(handle, "qc_router_reload"));
  EXPECT_EQ(reinterpret_cast<void*>(api_->on_step), dlsym(handle, "qc_on_step"));
  EXPECT_EQ(reinterpret_cast<void*>(api_->choose_precision), dlsym(handle, "qc_choose_precision"));
  EXPECT_EQ(reinterpret_cast<void*>(api_->report_outcome), dlsym(handle, "qc_report_outcome"));
  EXPECT_EQ(reinterpret_cast<void*>(api_->session_end), dlsym(handle, "qc_session_end"));
  EXPECT_EQ(reinterpret_cast<void*>(api_->metrics), dlsym(handle, "qc_metrics"));
  EXPECT_EQ(reinterpret_cast<void*>(api_->buffer_free), dlsym(handle, "qc_buffer_free"));
  EXPECT_EQ(reinterpret_cast<void*>(api_->last_error), dlsym(handle, "qc_last_error"));
  EXPECT_EQ(dlsym(handle, "qc_abi_version"), reinterpret_cast<void*>(api_->abi_version_fn));
}

TEST_F(AbiTest, PluginEntryRefusesAnotherMajor) {
  auto entry = reinterpret_cast<qc_plugin_entry_fn>(dlsym(Library().handle, QC_PLUGIN_ENTRY_SYMBOL));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry(2), nullptr);
  EXPECT_NE(LastError().find("ABI major 2"), std::string::npos) << LastError();
  EXPECT_NE(LastError().find("implements 1"), std::string::npos) << LastError();
  EXPECT_EQ(entry(0), nullptr);
  EXPECT_NE(LastError().find("ABI major 0"), std::string::npos) << LastError();
  EXPECT_EQ(entry(QC_ABI_VERSION_MAJOR), api_);
}

// ---------------------------------------------------------------------------------------------------
// Bad input: one case each, exact status and a message naming the problem

TEST_F(AbiTest, NullRouterIsInvalidArgument) {
  std::string step = StepJson("s", 0, "plan");
  qc_bytes bytes = Bytes(step);
  EXPECT_EQ(api_->on_step(nullptr, &bytes, QC_FORMAT_JSON), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "qc_on_step: router is NULL");
  qc_decision decision = EmptyDecision();
  EXPECT_EQ(api_->choose_precision(nullptr, &bytes, QC_FORMAT_JSON, &decision), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "qc_choose_precision: router is NULL");
  EXPECT_EQ(api_->report_outcome(nullptr, &bytes, QC_FORMAT_JSON), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "qc_report_outcome: router is NULL");
  EXPECT_EQ(api_->session_end(nullptr, "s", 1), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "qc_session_end: router is NULL");
  EXPECT_EQ(api_->router_reload(nullptr, "{}", 2), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "qc_router_reload: router is NULL");
  qc_buffer buffer = {sizeof(qc_buffer), 0, nullptr, 0};
  EXPECT_EQ(api_->metrics(nullptr, &buffer), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "qc_metrics: router is NULL");
  EXPECT_EQ(api_->router_free(nullptr), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "qc_router_free: router is NULL");
}

TEST_F(AbiTest, NullOutRouterAndNullConfigAreInvalidArgument) {
  std::string config = TestConfig();
  EXPECT_EQ(api_->router_new(config.data(), config.size(), nullptr), QC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(LastError().find("out_router is NULL"), std::string::npos) << LastError();
  qc_router* router = reinterpret_cast<qc_router*>(0x1);
  EXPECT_EQ(api_->router_new(nullptr, 10, &router), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(router, nullptr) << "a failed router_new must clear *out_router";
  EXPECT_NE(LastError().find("config_json is NULL"), std::string::npos) << LastError();
}

TEST_F(AbiTest, NullStepIsInvalidArgument) {
  EXPECT_EQ(api_->on_step(router_, nullptr, QC_FORMAT_JSON), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "qc_on_step: step is NULL");
  qc_decision decision = EmptyDecision();
  EXPECT_EQ(api_->choose_precision(router_, nullptr, QC_FORMAT_JSON, &decision), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "qc_choose_precision: request is NULL");
  EXPECT_EQ(api_->report_outcome(router_, nullptr, QC_FORMAT_JSON), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "qc_report_outcome: outcome is NULL");
}

TEST_F(AbiTest, NullDataWithSizeIsInvalidArgument) {
  qc_bytes bytes = {nullptr, 5};
  EXPECT_EQ(api_->on_step(router_, &bytes, QC_FORMAT_PROTOBUF), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "qc_on_step: step->data is NULL with size 5");
}

TEST_F(AbiTest, NullOutDecisionIsInvalidArgument) {
  ASSERT_EQ(OnStep(StepJson("s", 0, "plan")), QC_OK) << LastError();
  std::string request = RequestJson("s");
  qc_bytes bytes = Bytes(request);
  EXPECT_EQ(api_->choose_precision(router_, &bytes, QC_FORMAT_JSON, nullptr), QC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(LastError().find("out_decision is NULL"), std::string::npos) << LastError();
}

TEST_F(AbiTest, TruncatedProtobufIsParseError) {
  std::string step = StepProtobuf("s", 0, "plan");
  ASSERT_EQ(OnStep(step, QC_FORMAT_PROTOBUF), QC_OK) << LastError();
  // Cut inside the messages field (its length prefix promises more bytes than remain).
  std::string truncated = StepProtobuf("t", 0, "plan");
  size_t messages_field = truncated.find('\x1a');
  ASSERT_NE(messages_field, std::string::npos);
  truncated.resize(messages_field + 4);
  EXPECT_EQ(OnStep(truncated, QC_FORMAT_PROTOBUF), QC_ERR_PARSE);
  EXPECT_NE(LastError().find("do not decode as a protobuf quantclaw.v1.Step"), std::string::npos) << LastError();
  EXPECT_NE(LastError().find("(" + std::to_string(truncated.size()) + " bytes)"), std::string::npos) << LastError();
  // The rejected step created no session.
  qc_decision decision;
  EXPECT_EQ(Choose("t", &decision), QC_ERR_UNKNOWN_SESSION);
}

TEST_F(AbiTest, TruncatedProtobufDecisionRequestIsParseError) {
  ASSERT_EQ(OnStep(StepJson("s", 0, "plan")), QC_OK) << LastError();
  std::string request;
  AppendBytesField(&request, 1, "s");
  request.pop_back();  // the length prefix says 1 byte; none follows
  qc_bytes bytes = Bytes(request);
  qc_decision decision = EmptyDecision();
  EXPECT_EQ(api_->choose_precision(router_, &bytes, QC_FORMAT_PROTOBUF, &decision), QC_ERR_PARSE);
  EXPECT_NE(LastError().find("quantclaw.v1.DecisionRequest"), std::string::npos) << LastError();
}

TEST_F(AbiTest, RandomBytesNeverCrash) {
  std::mt19937 random(20240611);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 300);
  const std::string valid = StepProtobuf("fuzz", 0, "plan", "user", "a prompt of some length");
  int rejected = 0;
  for (int iteration = 0; iteration < 4000; ++iteration) {
    std::string bytes;
    if (iteration % 2 == 0) {
      bytes.resize(length(random));
      for (char& c : bytes) c = static_cast<char>(byte(random));
    } else {
      // A valid message with a few bytes flipped reaches deeper into the decoder than pure noise.
      bytes = valid;
      for (int flips = 1 + iteration % 4; flips > 0; --flips) {
        bytes[random() % bytes.size()] = static_cast<char>(byte(random));
      }
    }
    for (uint32_t format : {uint32_t{QC_FORMAT_PROTOBUF}, uint32_t{QC_FORMAT_JSON}}) {
      qc_bytes message = Bytes(bytes);
      auto check = [&](const char* function, int32_t status) {
        ASSERT_GE(status, QC_OK) << function;
        ASSERT_LE(status, QC_ERR_OUT_OF_ORDER) << function << ": bad input is no internal error: " << LastError();
        if (status != QC_OK) {
          ++rejected;
          ASSERT_FALSE(LastError().empty()) << function << ": status " << status << " without a message";
        }
      };
      qc_decision decision = EmptyDecision();
      check("on_step", api_->on_step(router_, &message, format));
      check("choose_precision", api_->choose_precision(router_, &message, format, &decision));
      check("report_outcome", api_->report_outcome(router_, &message, format));
      if (HasFatalFailure()) return;
    }
  }
  EXPECT_GT(rejected, 10000);
  // The router still works after all that.
  ASSERT_EQ(OnStep(StepJson("after-fuzz", 0, "plan")), QC_OK) << LastError();
  qc_decision decision;
  ASSERT_EQ(Choose("after-fuzz", &decision), QC_OK) << LastError();
  EXPECT_EQ(decision.tier_index, kTierW4a16);
}

TEST_F(AbiTest, UnknownFormatIsInvalidArgument) {
  std::string step = StepJson("s", 0, "plan");
  EXPECT_EQ(OnStep(step, 7), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "qc_on_step: format 7 is neither QC_FORMAT_PROTOBUF (1) nor QC_FORMAT_JSON (2)");
  EXPECT_EQ(OnStep(step, 0), QC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(LastError().find("format 0"), std::string::npos) << LastError();
  qc_decision decision;
  EXPECT_EQ(Choose("s", &decision), QC_ERR_UNKNOWN_SESSION) << "a rejected step must create no session";
}

TEST_F(AbiTest, JsonGivenAsProtobufIsParseError) {
  EXPECT_EQ(OnStep(StepJson("s", 0, "plan"), QC_FORMAT_PROTOBUF), QC_ERR_PARSE);
  EXPECT_NE(LastError().find("bytes do not decode as a protobuf quantclaw.v1.Step"), std::string::npos)
      << LastError();
}

TEST_F(AbiTest, ProtobufGivenAsJsonIsParseError) {
  EXPECT_EQ(OnStep(StepProtobuf("s", 0, "plan"), QC_FORMAT_JSON), QC_ERR_PARSE);
  EXPECT_NE(LastError().find("JSON does not decode as quantclaw.v1.Step"), std::string::npos) << LastError();
}

TEST_F(AbiTest, MessageOverMaxMessageBytesIsTooLarge) {
  // Exactly the limit passes; one byte more does not.
  std::string step = StepJson("s", 0, "plan", R"([{"role": "user", "content": "PAD"}])");
  std::string padding(1024 - (step.size() - 3), 'x');
  std::string at_limit = StepJson("s", 0, "plan", "[{\"role\": \"user\", \"content\": \"" + padding + "\"}]");
  ASSERT_EQ(at_limit.size(), 1024u);
  EXPECT_EQ(OnStep(at_limit), QC_OK) << LastError();

  std::string over = StepJson("s", 1, "plan", "[{\"role\": \"user\", \"content\": \"" + padding + "x\"}]");
  ASSERT_EQ(over.size(), 1025u);
  EXPECT_EQ(OnStep(over), QC_ERR_TOO_LARGE);
  EXPECT_EQ(LastError(), "qc_on_step: step is 1025 bytes, over limits.max_message_bytes (1024)");

  std::string outcome = R"({"session_id": "s", "error_message": ")" + std::string(1100, 'e') + "\"}";
  EXPECT_EQ(ReportOutcome(outcome), QC_ERR_TOO_LARGE);
  EXPECT_NE(LastError().find("qc_report_outcome: outcome is"), std::string::npos) << LastError();
}

TEST_F(AbiTest, ShadowSampledFlagAndTheOutcomesRequest) {
  // rate 1: every step is drawn; the decision says so, and the step's outcome may bring its request.
  // Nothing listens on the tiers: the queued job fails in the background, which is not the call's.
  std::string config = TestConfig("0.2", "4096");
  std::string dir = testing::TempDir() + "/abi-shadow-" + std::to_string(getpid());
  config.insert(config.rfind('}'), R"(, "shadow": {"rate": 1, "trace_path": ")" + dir + R"(", "timeout_ms": 100})");
  qc_router* sampled = NewRouter(config);
  ASSERT_NE(sampled, nullptr);
  ASSERT_EQ(OnStep(sampled, StepJson("h", 1, "plan")), QC_OK) << LastError();
  qc_decision decision;
  ASSERT_EQ(Choose(sampled, "h", &decision), QC_OK) << LastError();
  EXPECT_TRUE(decision.flags & QC_DECISION_SHADOW_SAMPLED);
  auto report = [&](const std::string& outcome) {
    qc_bytes bytes = Bytes(outcome);
    return api_->report_outcome(sampled, &bytes, QC_FORMAT_JSON);
  };
  // A request that is no OpenAI request body is refused, naming the field; nothing of it is recorded.
  EXPECT_EQ(report(R"({"session_id": "h", "step_index": 1, "request_json": "[1, 2]", "action_text": "ok"})"),
            QC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(LastError().find("outcome.request_json"), std::string::npos) << LastError();
  EXPECT_EQ(report(R"({"session_id": "h", "step_index": 1, "request_json": "{\"model\": \"m\"}"})"),
            QC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(LastError().find("/messages"), std::string::npos) << LastError();
  // A request over limits.max_message_bytes is refused with a clear status before anything is parsed.
  std::string huge = R"({"session_id": "h", "step_index": 1, "request_json": "{\"messages\": [{\"role\": \"user\", \"content\": \")" +
                     std::string(8u << 20, 'x') + R"(\"}]}", "action_text": "ok"})";
  EXPECT_EQ(report(huge), QC_ERR_TOO_LARGE);
  EXPECT_NE(LastError().find("over limits.max_message_bytes (4096)"), std::string::npos) << LastError();
  // The drawn step's outcome with its request and action: queued (quantclaw_shadow_sampled_total).
  EXPECT_EQ(report(R"({"session_id": "h", "step_index": 1, "tier_name": "w4a16", "status": 1,
      "request_json": "{\"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]}", "action_text": "hi"})"),
            QC_OK) << LastError();
  std::string metrics = MetricsText(sampled);
  EXPECT_NE(metrics.find("quantclaw_shadow_sampled_total 1\n"), std::string::npos) << metrics;
  // The same request again, for a step no longer pending: ignored and counted.
  EXPECT_EQ(report(R"({"session_id": "h", "step_index": 1, "action_text": "hi"})"), QC_OK) << LastError();
  metrics = MetricsText(sampled);
  EXPECT_NE(metrics.find("quantclaw_shadow_unrequested_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_shadow_sampled_total 1\n"), std::string::npos) << metrics;
  // A drawn step whose outcome brings no request, and one whose outcome never comes: both counted.
  ASSERT_EQ(OnStep(sampled, StepJson("h", 2, "plan")), QC_OK) << LastError();
  ASSERT_EQ(Choose(sampled, "h", &decision), QC_OK) << LastError();
  EXPECT_EQ(report(R"({"session_id": "h", "step_index": 2, "status": 1, "output_tokens": 3})"), QC_OK);
  ASSERT_EQ(OnStep(sampled, StepJson("h", 3, "plan")), QC_OK) << LastError();
  ASSERT_EQ(Choose(sampled, "h", &decision), QC_OK) << LastError();
  ASSERT_EQ(OnStep(sampled, StepJson("h", 4, "plan")), QC_OK) << LastError();
  metrics = MetricsText(sampled);
  EXPECT_NE(metrics.find("quantclaw_shadow_missing_request_total 2\n"), std::string::npos) << metrics;
  EXPECT_EQ(api_->router_free(sampled), QC_OK) << LastError();

  // Without shadow sampling the flag is never set, and a request in an outcome is ignored and counted.
  ASSERT_EQ(OnStep(StepJson("u", 1, "plan")), QC_OK) << LastError();
  ASSERT_EQ(Choose("u", &decision), QC_OK) << LastError();
  EXPECT_FALSE(decision.flags & QC_DECISION_SHADOW_SAMPLED);
  EXPECT_EQ(ReportOutcome(R"({"session_id": "u", "step_index": 1,
      "request_json": "{\"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]}", "action_text": "hi"})"),
            QC_OK) << LastError();
  metrics = MetricsText(router_);
  EXPECT_NE(metrics.find("quantclaw_shadow_unrequested_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_shadow_sampled_total 0\n"), std::string::npos) << metrics;
  std::filesystem::remove_all(dir);
}

TEST_F(AbiTest, UnknownSessionInChoosePrecision) {
  qc_decision decision;
  decision.tier_index = 12345;
  EXPECT_EQ(Choose("never-seen", &decision), QC_ERR_UNKNOWN_SESSION);
  EXPECT_NE(LastError().find("unknown session \"never-seen\""), std::string::npos) << LastError();
}

TEST_F(AbiTest, UnknownSessionInReportOutcome) {
  EXPECT_EQ(ReportOutcome(R"({"session_id": "never-seen", "step_index": 0, "output_tokens": 3})"),
            QC_ERR_UNKNOWN_SESSION);
  EXPECT_NE(LastError().find("unknown session \"never-seen\""), std::string::npos) << LastError();
}

TEST_F(AbiTest, UnknownSessionInSessionEnd) {
  EXPECT_EQ(api_->session_end(router_, "never-seen", 10), QC_ERR_UNKNOWN_SESSION);
  EXPECT_NE(LastError().find("unknown session \"never-seen\""), std::string::npos) << LastError();
}

TEST_F(AbiTest, FreedHandleIsBadHandle) {
  qc_router* router = NewRouter(TestConfig());
  ASSERT_NE(router, nullptr);
  ASSERT_EQ(OnStep(router, StepJson("s", 0, "plan")), QC_OK) << LastError();
  ASSERT_EQ(api_->router_free(router), QC_OK) << LastError();

  EXPECT_EQ(OnStep(router, StepJson("s", 1, "plan")), QC_ERR_BAD_HANDLE);
  EXPECT_EQ(LastError(), "qc_on_step: router handle was already freed");
  qc_decision decision;
  EXPECT_EQ(Choose(router, "s", &decision), QC_ERR_BAD_HANDLE);
  EXPECT_EQ(LastError(), "qc_choose_precision: router handle was already freed");
  std::string config = TestConfig();
  EXPECT_EQ(api_->router_reload(router, config.data(), config.size()), QC_ERR_BAD_HANDLE);
  EXPECT_EQ(LastError(), "qc_router_reload: router handle was already freed");
}

TEST_F(AbiTest, DoubleFreeIsBadHandle) {
  qc_router* router = NewRouter(TestConfig());
  ASSERT_NE(router, nullptr);
  ASSERT_EQ(api_->router_free(router), QC_OK) << LastError();
  EXPECT_EQ(api_->router_free(router), QC_ERR_BAD_HANDLE);
  EXPECT_EQ(LastError(), "qc_router_free: router handle was already freed");
}

TEST_F(AbiTest, ForeignHandleIsBadHandle) {
  alignas(16) std::array<unsigned char, 64> not_a_router{};
  EXPECT_EQ(OnStep(reinterpret_cast<qc_router*>(not_a_router.data()), StepJson("s", 0, "plan")), QC_ERR_BAD_HANDLE);
  EXPECT_EQ(LastError(), "qc_on_step: not a router handle from qc_router_new");
}

// The library knows its live handles; a pointer it never handed out is refused before it is read.
TEST_F(AbiTest, WildPointerIsBadHandle) {
  for (uintptr_t address : {uintptr_t{0x10}, uintptr_t{0x1000}, ~uintptr_t{0} - 15}) {
    auto* wild = reinterpret_cast<qc_router*>(address);
    EXPECT_EQ(OnStep(wild, StepJson("s", 0, "plan")), QC_ERR_BAD_HANDLE) << address;
    EXPECT_EQ(LastError(), "qc_on_step: not a router handle from qc_router_new");
    qc_decision decision;
    EXPECT_EQ(Choose(wild, "s", &decision), QC_ERR_BAD_HANDLE) << address;
    EXPECT_EQ(api_->router_free(wild), QC_ERR_BAD_HANDLE) << address;
    EXPECT_EQ(LastError(), "qc_router_free: not a router handle from qc_router_new");
  }
}

TEST_F(AbiTest, MisalignedPointerIntoALiveHandleIsBadHandle) {
  ASSERT_EQ(OnStep(StepJson("s", 0, "plan")), QC_OK) << LastError();
  for (uintptr_t offset : {1, 3, 8}) {
    auto* inside = reinterpret_cast<qc_router*>(reinterpret_cast<uintptr_t>(router_) + offset);
    EXPECT_EQ(OnStep(inside, StepJson("s", 1, "plan")), QC_ERR_BAD_HANDLE) << offset;
    EXPECT_EQ(api_->router_free(inside), QC_ERR_BAD_HANDLE) << offset;
  }
  EXPECT_EQ(OnStep(StepJson("s", 1, "plan")), QC_OK) << LastError();
}

// A host that copies the bytes of a live handle (memcpy of what the pointer points to) holds no router:
// the copy is refused, and freeing it leaves the real router to its owner.
TEST_F(AbiTest, ByteCopyOfALiveHandleIsBadHandle) {
  qc_router* router = NewRouter(TestConfig());
  ASSERT_NE(router, nullptr);
  ASSERT_EQ(OnStep(router, StepJson("s", 0, "plan")), QC_OK) << LastError();
  alignas(64) unsigned char copy[16];  // a handle is at least this big
  std::memcpy(copy, static_cast<const void*>(router), sizeof(copy));
  auto* forged = reinterpret_cast<qc_router*>(copy);
  EXPECT_EQ(OnStep(forged, StepJson("s", 1, "plan")), QC_ERR_BAD_HANDLE);
  EXPECT_EQ(LastError(), "qc_on_step: not a router handle from qc_router_new");
  qc_decision decision;
  EXPECT_EQ(Choose(forged, "s", &decision), QC_ERR_BAD_HANDLE);
  EXPECT_EQ(api_->router_free(forged), QC_ERR_BAD_HANDLE);
  EXPECT_EQ(LastError(), "qc_router_free: not a router handle from qc_router_new");
  // The real router is untouched: its session goes on where it was.
  EXPECT_EQ(OnStep(router, StepJson("s", 1, "plan")), QC_OK) << LastError();
  ASSERT_EQ(Choose(router, "s", &decision), QC_OK) << LastError();
  EXPECT_EQ(decision.step_index, 1u);
  EXPECT_EQ(api_->router_free(router), QC_OK) << LastError();
}

// qc_router_free while other threads' calls on the router are in flight: those calls finish on a
// live router, later ones are refused, and nothing touches freed memory (run under ASan to see it).
TEST_F(AbiTest, FreeWhileCallsAreInFlightIsSafe) {
  for (int round = 0; round < 20; ++round) {
    qc_router* router = NewRouter(TestConfig());
    ASSERT_NE(router, nullptr);
    ASSERT_EQ(OnStep(router, StepJson("s", 0, "plan")), QC_OK) << LastError();
    std::atomic<int> started{0};
    std::atomic<int> unexpected{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, router] {
        std::string request = RequestJson("s");
        qc_bytes bytes = Bytes(request);
        started.fetch_add(1);
        for (;;) {
          qc_decision decision = EmptyDecision();
          int32_t status = api_->choose_precision(router, &bytes, QC_FORMAT_JSON, &decision);
          if (status == QC_ERR_BAD_HANDLE) break;
          if (status != QC_OK) unexpected.fetch_add(1);
          qc_buffer text;
          std::memset(&text, 0, sizeof(text));
          text.struct_size = sizeof(text);
          status = api_->metrics(router, &text);
          if (status == QC_ERR_BAD_HANDLE) break;
          if (status != QC_OK) unexpected.fetch_add(1);
          api_->buffer_free(&text);
        }
      });
    }
    while (started.load() < 4) std::this_thread::yield();
    EXPECT_EQ(api_->router_free(router), QC_OK) << LastError();
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(unexpected.load(), 0);
    EXPECT_EQ(api_->router_free(router), QC_ERR_BAD_HANDLE);
  }
}

TEST_F(AbiTest, DecisionStructSizeTooSmallIsInvalidArgument) {
  ASSERT_EQ(OnStep(StepJson("s", 0, "plan")), QC_OK) << LastError();
  std::string request = RequestJson("s");
  qc_bytes bytes = Bytes(request);
  for (uint32_t struct_size : {0u, 4u, QC_DECISION_SIZE_V1 - 1}) {
    qc_decision decision = EmptyDecision();
    decision.struct_size = struct_size;
    std::memset(decision.tier_name, 'Z', sizeof(decision.tier_name));
    EXPECT_EQ(api_->choose_precision(router_, &bytes, QC_FORMAT_JSON, &decision), QC_ERR_INVALID_ARGUMENT);
    EXPECT_NE(LastError().find("out_decision->struct_size " + std::to_string(struct_size) + " is below " +
                               std::to_string(QC_DECISION_SIZE_V1)),
              std::string::npos)
        << LastError();
    EXPECT_EQ(decision.tier_name[0], 'Z') << "nothing may be written into a struct that is too small";
  }
}

TEST_F(AbiTest, LargerDecisionStructKeepsItsTail) {
  // A host built against a later minor passes a bigger struct: this library fills its own part only.
  ASSERT_EQ(OnStep(StepJson("s", 0, "plan")), QC_OK) << LastError();
  struct {
    qc_decision v1;
    unsigned char future_fields[40];
  } newer;
  std::memset(&newer, 0xAB, sizeof(newer));
  newer.v1.struct_size = sizeof(newer);
  std::string request = RequestJson("s");
  qc_bytes bytes = Bytes(request);
  ASSERT_EQ(api_->choose_precision(router_, &bytes, QC_FORMAT_JSON, &newer.v1), QC_OK) << LastError();
  EXPECT_EQ(newer.v1.struct_size, QC_DECISION_SIZE_V1) << "struct_size reports how much was written";
  EXPECT_STREQ(newer.v1.tier_name, "w4a16");
  for (unsigned char future : newer.future_fields) ASSERT_EQ(future, 0xAB);
}

TEST_F(AbiTest, InvalidConfigNamesTheJsonPointer) {
  std::string config = TestConfig();
  size_t url = config.find("http://127.0.0.1:1/v1");
  config.replace(url, std::strlen("http://127.0.0.1:1/v1"), "ftp://127.0.0.1/v1");
  qc_router* router = reinterpret_cast<qc_router*>(0x1);
  EXPECT_EQ(api_->router_new(config.data(), config.size(), &router), QC_ERR_INVALID_CONFIG);
  EXPECT_EQ(router, nullptr);
  EXPECT_EQ(LastError(), "/tiers/0/base_url: malformed URL: unsupported scheme \"ftp\" (expected http or https)");
}

TEST_F(AbiTest, InvalidConfigListsEveryProblemOnItsOwnLine) {
  std::string config = TestConfig("1.5");
  config.replace(config.find("\"reference_tier\": \"bf16\""), std::strlen("\"reference_tier\": \"bf16\""),
                 "\"reference_tier\": \"fp4\"");
  qc_router* router = nullptr;
  EXPECT_EQ(api_->router_new(config.data(), config.size(), &router), QC_ERR_INVALID_CONFIG);
  std::string message = LastError();
  EXPECT_NE(message.find("/reference_tier: no tier named \"fp4\""), std::string::npos) << message;
  EXPECT_NE(message.find("\n/policy/scorer/default_score: out of range"), std::string::npos) << message;
}

TEST_F(AbiTest, MalformedConfigJsonIsInvalidConfig) {
  std::string config = "{\"tiers\": [";
  qc_router* router = nullptr;
  EXPECT_EQ(api_->router_new(config.data(), config.size(), &router), QC_ERR_INVALID_CONFIG);
  EXPECT_NE(LastError().find("invalid JSON at byte"), std::string::npos) << LastError();
}

TEST_F(AbiTest, OutOfOrderStepIndex) {
  ASSERT_EQ(OnStep(StepJson("s", 0, "plan")), QC_OK) << LastError();
  ASSERT_EQ(OnStep(StepJson("s", 1, "plan")), QC_OK) << LastError();
  EXPECT_EQ(OnStep(StepJson("s", 1, "plan")), QC_ERR_OUT_OF_ORDER);
  EXPECT_NE(LastError().find("step_index 1 of session \"s\" is not after the last one seen (1)"), std::string::npos)
      << LastError();
  EXPECT_EQ(OnStep(StepJson("s", 0, "plan")), QC_ERR_OUT_OF_ORDER);
  EXPECT_NE(LastError().find("step_index 0 of session \"s\""), std::string::npos) << LastError();
}

// The last index a step can carry ends the session's order: a step without an index cannot follow it
// (it would wrap to 0 and reopen every index below).
TEST_F(AbiTest, NoStepFollowsTheLastStepIndex) {
  ASSERT_EQ(OnStep(R"({"session_id": "s", "step_index": "18446744073709551615"})"), QC_OK) << LastError();
  EXPECT_EQ(OnStep(R"({"session_id": "s"})"), QC_ERR_OUT_OF_ORDER);
  EXPECT_NE(LastError().find("step_index 18446744073709551615"), std::string::npos) << LastError();
  EXPECT_EQ(OnStep(StepJson("s", 7, "plan")), QC_ERR_OUT_OF_ORDER);
  qc_decision decision;
  ASSERT_EQ(Choose("s", &decision), QC_OK) << LastError();
  EXPECT_EQ(decision.step_index, UINT64_MAX);
}

TEST_F(AbiTest, UnknownJsonFieldIsParseError) {
  std::string step = R"({"session_id": "s", "step_index": 0, "mesages": []})";
  EXPECT_EQ(OnStep(step), QC_ERR_PARSE);
  EXPECT_NE(LastError().find("JSON does not decode as quantclaw.v1.Step"), std::string::npos) << LastError();
  EXPECT_NE(LastError().find("mesages"), std::string::npos) << "the message must name the unknown field";
  qc_decision decision;
  EXPECT_EQ(Choose("s", &decision), QC_ERR_UNKNOWN_SESSION);
}

TEST_F(AbiTest, UnknownJsonFieldInDecisionRequestIsParseError) {
  ASSERT_EQ(OnStep(StepJson("s", 0, "plan")), QC_OK) << LastError();
  std::string request = R"({"session_id": "s", "sesion": "s"})";
  qc_bytes bytes = Bytes(request);
  qc_decision decision = EmptyDecision();
  EXPECT_EQ(api_->choose_precision(router_, &bytes, QC_FORMAT_JSON, &decision), QC_ERR_PARSE);
  EXPECT_NE(LastError().find("unknown field \"sesion\""), std::string::npos) << LastError();
}

TEST_F(AbiTest, EmptySessionIdIsInvalidArgument) {
  EXPECT_EQ(OnStep(StepJson("", 0, "plan")), QC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(LastError().find("session_id is empty"), std::string::npos) << LastError();
}

TEST_F(AbiTest, ForceTierNamingNoTierIsInvalidArgument) {
  EXPECT_EQ(OnStep(StepJson("s", 0, "plan", R"([])", R"(, "force_tier": "fp4")")), QC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "step.hints.force_tier names no tier: \"fp4\"");
}

TEST_F(AbiTest, MetricsStructSizeTooSmallIsInvalidArgument) {
  qc_buffer buffer = {0, 0, nullptr, 0};
  EXPECT_EQ(api_->metrics(router_, &buffer), QC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(LastError().find("struct_size"), std::string::npos) << LastError();
  EXPECT_EQ(buffer.data, nullptr);
  EXPECT_EQ(api_->metrics(router_, nullptr), QC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(LastError().find("out_text is NULL"), std::string::npos) << LastError();
}

TEST_F(AbiTest, RejectedCallsAreCounted) {
  EXPECT_EQ(OnStep(StepJson("s", 0, "plan"), 7), QC_ERR_INVALID_ARGUMENT);
  qc_decision decision;
  EXPECT_EQ(Choose("ghost", &decision), QC_ERR_UNKNOWN_SESSION);
  std::string metrics = MetricsText(router_);
  EXPECT_NE(metrics.find("\nquantclaw_rejected_calls_total 2\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nquantclaw_steps_total 0\n"), std::string::npos) << metrics;
}

TEST_F(AbiTest, LastErrorIsPerThread) {
  EXPECT_EQ(OnStep(StepJson("s", 0, "plan"), 7), QC_ERR_INVALID_ARGUMENT);
  std::string other_thread_error = "unset";
  std::thread other([&] {
    other_thread_error = api_->last_error();
    qc_decision decision;
    Choose("ghost", &decision);
  });
  other.join();
  EXPECT_EQ(other_thread_error, "");
  EXPECT_NE(LastError().find("format 7"), std::string::npos) << "another thread's failure replaced this thread's";
}

// ---------------------------------------------------------------------------------------------------
// Positive paths

TEST_F(AbiTest, RoundTrip) {
  ASSERT_EQ(OnStep(StepJson("agent-1", 0, "plan")), QC_OK) << LastError();
  qc_decision decision;
  ASSERT_EQ(Choose("agent-1", &decision), QC_OK) << LastError();
  EXPECT_EQ(decision.struct_size, QC_DECISION_SIZE_V1);
  EXPECT_EQ(decision.tier_index, kTierW4a16);
  EXPECT_STREQ(decision.tier_name, "w4a16");
  EXPECT_EQ(decision.prefill_tier_index, kTierW4a16);
  EXPECT_EQ(decision.step_index, 0u);
  EXPECT_EQ(decision.flags, 0u);
  EXPECT_DOUBLE_EQ(decision.score, 0.2);
  EXPECT_DOUBLE_EQ(decision.threshold, 0.75);
  EXPECT_STREQ(decision.step_kind, "plan");
  EXPECT_STREQ(decision.reason, "rules: scorer 0 no rule matched; default_score 0.20 <= threshold 0.750");

  ASSERT_EQ(ReportOutcome(R"({"session_id": "agent-1", "step_index": 0, "tier_name": "w4a16",
                              "input_tokens": 120, "output_tokens": 30, "status": "OUTCOME_STATUS_OK",
                              "tool_call_valid": false})"),
            QC_OK)
      << LastError();

  std::string metrics = MetricsText(router_);
  EXPECT_NE(metrics.find("\nquantclaw_decisions_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nquantclaw_steps_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_decisions_by_tier_total{tier=\"w4a16\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_input_tokens_total{tier=\"w4a16\"} 120\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nquantclaw_invalid_tool_calls_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nquantclaw_sessions_active 1\n"), std::string::npos) << metrics;

  // The invalid tool call escalates the next step one rung: w4a16 -> fp8.
  ASSERT_EQ(OnStep(StepJson("agent-1", 1, "plan", "[]")), QC_OK) << LastError();
  ASSERT_EQ(Choose("agent-1", &decision), QC_OK) << LastError();
  EXPECT_EQ(decision.tier_index, kTierFp8);
  EXPECT_EQ(decision.step_index, 1u);
  EXPECT_EQ(decision.flags, static_cast<uint32_t>(QC_DECISION_ESCALATED));
  EXPECT_NE(std::string(decision.reason).find("escalated: last tool call invalid"), std::string::npos)
      << decision.reason;

  ASSERT_EQ(api_->session_end(router_, "agent-1", std::strlen("agent-1")), QC_OK) << LastError();
  EXPECT_EQ(Choose("agent-1", &decision), QC_ERR_UNKNOWN_SESSION);
  EXPECT_NE(LastError().find("unknown session \"agent-1\""), std::string::npos) << LastError();
  EXPECT_EQ(api_->session_end(router_, "agent-1", std::strlen("agent-1")), QC_ERR_UNKNOWN_SESSION);
  metrics = MetricsText(router_);
  EXPECT_NE(metrics.find("\nquantclaw_sessions_ended_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nquantclaw_sessions_active 0\n"), std::string::npos) << metrics;
}

TEST_F(AbiTest, ForcedAndScoredDecisions) {
  ASSERT_EQ(OnStep(StepJson("s", 0, "search")), QC_OK) << LastError();
  qc_decision decision;
  ASSERT_EQ(Choose("s", &decision), QC_OK) << LastError();
  EXPECT_EQ(decision.tier_index, kTierBf16);
  EXPECT_EQ(decision.flags, static_cast<uint32_t>(QC_DECISION_FORCED));
  EXPECT_EQ(decision.score, -1.0);
  EXPECT_STREQ(decision.reason, "forced: /policy/force/0 matched (step_kind search)");

  ASSERT_EQ(OnStep(StepJson("s", 1, "read", "[]")), QC_OK) << LastError();
  ASSERT_EQ(Choose("s", &decision), QC_OK) << LastError();
  EXPECT_EQ(decision.tier_index, kTierFp8);
  EXPECT_DOUBLE_EQ(decision.score, 0.5);

  ASSERT_EQ(OnStep(StepJson("s", 2, "final", "[]")), QC_OK) << LastError();
  ASSERT_EQ(Choose("s", &decision), QC_OK) << LastError();
  EXPECT_EQ(decision.tier_index, kTierBf16);
  EXPECT_EQ(decision.flags, 0u);
  EXPECT_DOUBLE_EQ(decision.score, 0.8);

  ASSERT_EQ(OnStep(StepJson("s", 3, "plan", "[]", R"(, "force_tier": "fp8")")), QC_OK) << LastError();
  ASSERT_EQ(Choose("s", &decision), QC_OK) << LastError();
  EXPECT_EQ(decision.tier_index, kTierFp8);
  EXPECT_EQ(decision.flags, static_cast<uint32_t>(QC_DECISION_FORCED));
  EXPECT_STREQ(decision.reason, "forced: the host's force_tier hint");
}

TEST_F(AbiTest, ProtobufStepDecidesLikeJson) {
  qc_router* binary_router = NewRouter(TestConfig());
  ASSERT_NE(binary_router, nullptr);
  for (uint64_t index = 0; index < 3; ++index) {
    const char* kind = index == 1 ? "read" : "plan";
    ASSERT_EQ(OnStep(router_, StepJson("same", index, kind)), QC_OK) << LastError();
    ASSERT_EQ(OnStep(binary_router, StepProtobuf("same", index, kind), QC_FORMAT_PROTOBUF), QC_OK) << LastError();
    qc_decision from_json;
    qc_decision from_protobuf;
    ASSERT_EQ(Choose(router_, "same", &from_json), QC_OK) << LastError();
    // The request crosses as protobuf too.
    std::string request;
    AppendBytesField(&request, 1, "same");
    qc_bytes bytes = Bytes(request);
    from_protobuf = EmptyDecision();
    ASSERT_EQ(api_->choose_precision(binary_router, &bytes, QC_FORMAT_PROTOBUF, &from_protobuf), QC_OK)
        << LastError();
    ExpectSameDecision(from_protobuf, from_json);
    EXPECT_EQ(from_protobuf.step_index, index);
    EXPECT_STREQ(from_protobuf.step_kind, kind);
  }
  EXPECT_EQ(api_->router_free(binary_router), QC_OK) << LastError();
}

TEST_F(AbiTest, ProtobufOutcomeIsAccepted) {
  ASSERT_EQ(OnStep(StepProtobuf("s", 0, "plan"), QC_FORMAT_PROTOBUF), QC_OK) << LastError();
  std::string outcome;
  AppendBytesField(&outcome, 1, "s");
  AppendBytesField(&outcome, 3, "w4a16");
  AppendVarintField(&outcome, 5, 42);  // output_tokens
  qc_bytes bytes = Bytes(outcome);
  ASSERT_EQ(api_->report_outcome(router_, &bytes, QC_FORMAT_PROTOBUF), QC_OK) << LastError();
  std::string metrics = MetricsText(router_);
  EXPECT_NE(metrics.find("quantclaw_output_tokens_total{tier=\"w4a16\"} 42\n"), std::string::npos) << metrics;
}

// Times of a call are finite, non-negative and below a sane bound (1e9 ms, 11.6 days); anything else is
// refused by name before it reaches a counter, where converting it to an integer would be undefined.
TEST_F(AbiTest, OutcomeTimesThatAreNotFiniteOrSaneAreInvalidArguments) {
  ASSERT_EQ(OnStep(StepJson("s", 0, "plan")), QC_OK) << LastError();
  for (const char* field : {"latency_ms", "ttft_ms"}) {
    for (const char* value : {"\"Infinity\"", "\"-Infinity\"", "\"NaN\"", "-1", "-0.5", "1e300", "1000000001"}) {
      std::string outcome = std::string(R"({"session_id": "s", "tier_name": "w4a16", "output_tokens": 1, ")") +
                            field + "\": " + value + "}";
      EXPECT_EQ(ReportOutcome(outcome), QC_ERR_INVALID_ARGUMENT) << field << " " << value;
      EXPECT_NE(LastError().find(std::string("outcome.") + field), std::string::npos)
          << field << " " << value << ": " << LastError();
    }
  }
  EXPECT_EQ(ReportOutcome(R"({"session_id": "s", "episode_reward": "NaN"})"), QC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(LastError().find("outcome.episode_reward"), std::string::npos) << LastError();
  std::string metrics = MetricsText(router_);
  EXPECT_NE(metrics.find("quantclaw_output_tokens_total{tier=\"w4a16\"} 0\n"), std::string::npos) << metrics;

  ASSERT_EQ(ReportOutcome(R"({"session_id": "s", "tier_name": "w4a16", "output_tokens": 4,
                              "latency_ms": 1000000000, "ttft_ms": 0})"), QC_OK) << LastError();
  ASSERT_EQ(ReportOutcome(R"({"session_id": "s", "tier_name": "w4a16", "output_tokens": 4,
                              "latency_ms": 0, "episode_reward": -1.5})"), QC_OK) << LastError();
  metrics = MetricsText(router_);
  EXPECT_NE(metrics.find("quantclaw_output_tokens_total{tier=\"w4a16\"} 8\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quantclaw_latency_microseconds_total{tier=\"w4a16\"} 1000000000000\n"), std::string::npos)
      << metrics;
}

TEST_F(AbiTest, ReloadKeepsSessions) {
  ASSERT_EQ(OnStep(StepJson("kept", 0, "plan")), QC_OK) << LastError();
  qc_decision decision;
  ASSERT_EQ(Choose("kept", &decision), QC_OK) << LastError();
  EXPECT_EQ(decision.tier_index, kTierW4a16);

  std::string reloaded = TestConfig("0.9", "2048");
  ASSERT_EQ(api_->router_reload(router_, reloaded.data(), reloaded.size()), QC_OK) << LastError();
  // The session survived (its step index is remembered) and the new default score is in force.
  ASSERT_EQ(Choose("kept", &decision), QC_OK) << LastError();
  EXPECT_EQ(decision.step_index, 0u);
  EXPECT_EQ(decision.tier_index, kTierBf16);
  EXPECT_DOUBLE_EQ(decision.score, 0.9);
  EXPECT_EQ(OnStep(StepJson("kept", 0, "plan")), QC_ERR_OUT_OF_ORDER);
  ASSERT_EQ(OnStep(StepJson("kept", 1, "plan")), QC_OK) << LastError();
  // And the new message limit.
  std::string big = StepJson("kept", 2, "plan", "[{\"role\": \"user\", \"content\": \"" + std::string(1500, 'x') + "\"}]");
  EXPECT_EQ(OnStep(big), QC_OK) << LastError();
  std::string metrics = MetricsText(router_);
  EXPECT_NE(metrics.find("\nquantclaw_config_reloads_total 1\n"), std::string::npos) << metrics;
}

TEST_F(AbiTest, FailedReloadKeepsTheOldConfig) {
  ASSERT_EQ(OnStep(StepJson("kept", 0, "plan")), QC_OK) << LastError();
  qc_decision before;
  ASSERT_EQ(Choose("kept", &before), QC_OK) << LastError();

  std::string invalid = TestConfig("0.9", "2048");
  invalid.replace(invalid.find("\"thresholds\": [0.25, 0.75]"), std::strlen("\"thresholds\": [0.25, 0.75]"),
                  "\"thresholds\": [0.75, 0.25]");
  EXPECT_EQ(api_->router_reload(router_, invalid.data(), invalid.size()), QC_ERR_INVALID_CONFIG);
  EXPECT_EQ(LastError(), "/policy/thresholds/1: thresholds must be strictly ascending");

  qc_decision after;
  ASSERT_EQ(Choose("kept", &after), QC_OK) << LastError();
  ExpectSameDecision(after, before);
  EXPECT_DOUBLE_EQ(after.score, 0.2) << "the rejected config's default_score 0.9 must not apply";
  std::string big = StepJson("kept", 1, "plan", "[{\"role\": \"user\", \"content\": \"" + std::string(1500, 'x') + "\"}]");
  EXPECT_EQ(OnStep(big), QC_ERR_TOO_LARGE) << "the rejected config's max_message_bytes must not apply";
  EXPECT_EQ(api_->router_reload(router_, nullptr, 0), QC_ERR_INVALID_ARGUMENT);
  std::string metrics = MetricsText(router_);
  EXPECT_NE(metrics.find("\nquantclaw_config_reloads_total 0\n"), std::string::npos) << metrics;
}

TEST_F(AbiTest, RejectedStepLeavesTheSessionUnchanged) {
  // Step 1 carries a tool error: the session's decisions now depend on its history.
  ASSERT_EQ(OnStep(StepJson("s", 0, "plan")), QC_OK) << LastError();
  ASSERT_EQ(OnStep(StepJson("s", 1, "read", R"([{"role": "tool", "tool_call_id": "c1", "content": "ok"}])")), QC_OK)
      << LastError();
  qc_decision before;
  ASSERT_EQ(Choose("s", &before), QC_OK) << LastError();
  EXPECT_EQ(before.tier_index, kTierFp8);
  EXPECT_EQ(before.step_index, 1u);

  const std::string error_result =
      R"([{"role": "tool", "tool_call_id": "c2", "content": "Traceback: boom", "is_error": true}])";
  // Rejected: a force_tier naming no tier (the step would otherwise add a tool error and a new kind).
  EXPECT_EQ(OnStep(StepJson("s", 2, "final", error_result, R"(, "force_tier": "fp4")")), QC_ERR_INVALID_ARGUMENT);
  qc_decision after;
  ASSERT_EQ(Choose("s", &after), QC_OK) << LastError();
  ExpectSameDecision(after, before);

  // Rejected: an index already seen.
  EXPECT_EQ(OnStep(StepJson("s", 1, "final", error_result)), QC_ERR_OUT_OF_ORDER);
  ASSERT_EQ(Choose("s", &after), QC_OK) << LastError();
  ExpectSameDecision(after, before);

  // Rejected: undecodable.
  EXPECT_EQ(OnStep(R"({"session_id": "s", "step_index": 2, "hints": {"step_kind": 5}})"), QC_ERR_PARSE);
  ASSERT_EQ(Choose("s", &after), QC_OK) << LastError();
  ExpectSameDecision(after, before);

  // The same step, valid, does change it: the tool error scores 0.85 -> bf16.
  ASSERT_EQ(OnStep(StepJson("s", 2, "act", error_result)), QC_OK) << LastError();
  ASSERT_EQ(Choose("s", &after), QC_OK) << LastError();
  EXPECT_EQ(after.step_index, 2u);
  EXPECT_EQ(after.tier_index, kTierBf16);
  EXPECT_DOUBLE_EQ(after.score, 0.85);
}

TEST_F(AbiTest, ExampleConfigRoutesTheExampleEpisodeFirstStep) {
  std::string config = ReadFile(QC_EXAMPLES_DIR "/configs/router.json");
  ASSERT_FALSE(config.empty());
  qc_router* router = NewRouter(config);
  ASSERT_NE(router, nullptr);
  std::ifstream episode(QC_EXAMPLES_DIR "/episodes/research-agent.jsonl");
  std::string first_step;
  ASSERT_TRUE(std::getline(episode, first_step));
  ASSERT_GT(first_step.size(), 1024u) << "the example's limit is 4 MiB, the test config's 1024 bytes";
  EXPECT_EQ(OnStep(router, first_step), QC_OK) << LastError();
  qc_decision decision;
  EXPECT_EQ(Choose(router, "research-7f3a", &decision), QC_OK) << LastError();
  EXPECT_STREQ(decision.tier_name, "w4a16");
  EXPECT_STREQ(decision.step_kind, "plan");
  EXPECT_EQ(api_->router_free(router), QC_OK) << LastError();
}

// ---------------------------------------------------------------------------------------------------
// Threads

constexpr int kThreads = 8;
constexpr int kSessionsPerThread = 200;
constexpr int kStepsPerSession = 5;
constexpr int kPatterns = 5;

// Session pattern p, step j: kinds rotate, and pattern 3 hits a tool error at step 2, so later
// decisions depend on the session's own history (a mixed-up session would show).
std::string PatternStep(std::string_view session_id, int pattern, int step) {
  static constexpr const char* kKinds[] = {"plan", "read", "search", "act", "final"};
  const char* kind = kKinds[(pattern + step) % 5];
  if (step == 0) return StepJson(session_id, 0, kind);
  bool error = pattern == 3 && step == 2;
  std::string messages = R"([{"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function",)"
                         R"( "function": {"name": "python", "arguments": "{\"n\": )" +
                         std::to_string(pattern * 10 + step) + R"(}"}}]}, {"role": "tool", "tool_call_id": "c",)"
                         R"( "content": "result", "is_error": )" + (error ? "true" : "false") + "}]";
  return StepJson(session_id, static_cast<uint64_t>(step), kind, messages);
}

TEST_F(AbiTest, ConcurrentSessionsAreDeterministic) {
  // Reference: one thread, one session per pattern, on a router of its own.
  qc_router* reference_router = NewRouter(TestConfig());
  ASSERT_NE(reference_router, nullptr);
  qc_decision reference[kPatterns][kStepsPerSession];
  std::vector<uint32_t> tiers_seen;
  for (int pattern = 0; pattern < kPatterns; ++pattern) {
    std::string session = "reference-" + std::to_string(pattern);
    for (int step = 0; step < kStepsPerSession; ++step) {
      ASSERT_EQ(OnStep(reference_router, PatternStep(session, pattern, step)), QC_OK) << LastError();
      ASSERT_EQ(Choose(reference_router, session, &reference[pattern][step]), QC_OK) << LastError();
      tiers_seen.push_back(reference[pattern][step].tier_index);
    }
  }
  EXPECT_EQ(api_->router_free(reference_router), QC_OK);
  // The patterns exercise every tier, so a wrong tier cannot pass unnoticed.
  for (uint32_t tier : {kTierBf16, kTierFp8, kTierW4a16}) {
    EXPECT_NE(std::find(tiers_seen.begin(), tiers_seen.end(), tier), tiers_seen.end()) << "tier " << tier;
  }

  std::atomic<int> ok_calls{0};
  std::vector<std::string> problems(kThreads);
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      std::string& problem = problems[thread];
      // Steps interleave across this thread's sessions, as an agent server's would.
      for (int step = 0; step < kStepsPerSession && problem.empty(); ++step) {
        for (int session = 0; session < kSessionsPerThread && problem.empty(); ++session) {
          int pattern = session % kPatterns;
          std::string id = "t" + std::to_string(thread) + "-s" + std::to_string(session);
          if (int32_t status = OnStep(PatternStep(id, pattern, step)); status != QC_OK) {
            problem = id + " on_step " + std::to_string(status) + ": " + api_->last_error();
            break;
          }
          qc_decision decision;
          if (int32_t status = Choose(id, &decision); status != QC_OK) {
            problem = id + " choose " + std::to_string(status) + ": " + api_->last_error();
            break;
          }
          const qc_decision& expected = reference[pattern][step];
          if (decision.tier_index != expected.tier_index || decision.score != expected.score ||
              decision.flags != expected.flags || decision.step_index != expected.step_index ||
              std::strcmp(decision.reason, expected.reason) != 0) {
            problem = id + " step " + std::to_string(step) + ": tier " + decision.tier_name + " (" + decision.reason +
                      "), single-threaded reference " + expected.tier_name + " (" + expected.reason + ")";
            break;
          }
          ok_calls.fetch_add(2, std::memory_order_relaxed);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int thread = 0; thread < kThreads; ++thread) EXPECT_EQ(problems[thread], "") << "thread " << thread;
  EXPECT_EQ(ok_calls.load(), kThreads * kSessionsPerThread * kStepsPerSession * 2);
  std::string metrics = MetricsText(router_);
  EXPECT_NE(metrics.find("\nquantclaw_sessions_active " + std::to_string(kThreads * kSessionsPerThread) + "\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("\nquantclaw_decisions_total " +
                         std::to_string(kThreads * kSessionsPerThread * kStepsPerSession) + "\n"),
            std::string::npos)
      << metrics;
}

TEST_F(AbiTest, ReloadDuringTrafficKeepsDecisions) {
  // Two texts of one policy: decisions must not change, whichever config a call starts with.
  std::string config = TestConfig();
  std::string same_policy = config;
  same_policy.insert(1, "\"description\": \"the same policy, reloaded\",");
  qc_router* reference_router = NewRouter(config);
  ASSERT_NE(reference_router, nullptr);
  qc_decision reference[kPatterns][kStepsPerSession];
  for (int pattern = 0; pattern < kPatterns; ++pattern) {
    std::string session = "reference-" + std::to_string(pattern);
    for (int step = 0; step < kStepsPerSession; ++step) {
      ASSERT_EQ(OnStep(reference_router, PatternStep(session, pattern, step)), QC_OK) << LastError();
      ASSERT_EQ(Choose(reference_router, session, &reference[pattern][step]), QC_OK) << LastError();
    }
  }
  EXPECT_EQ(api_->router_free(reference_router), QC_OK);

  constexpr int kWorkers = 4;
  std::atomic<int> workers_running{kWorkers};
  std::atomic<int> reloads{0};
  std::vector<std::string> problems(kWorkers + 1);
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (int round = 0; workers_running.load() > 0 || round < 2; ++round) {
      const std::string& text = round % 2 == 0 ? same_policy : config;
      if (api_->router_reload(router_, text.data(), text.size()) != QC_OK) {
        problems[kWorkers] = std::string("reload: ") + api_->last_error();
        return;
      }
      reloads.fetch_add(1);
    }
  });
  for (int worker = 0; worker < kWorkers; ++worker) {
    threads.emplace_back([&, worker] {
      std::string& problem = problems[worker];
      for (int step = 0; step < kStepsPerSession && problem.empty(); ++step) {
        for (int session = 0; session < 100 && problem.empty(); ++session) {
          int pattern = session % kPatterns;
          std::string id = "w" + std::to_string(worker) + "-s" + std::to_string(session);
          qc_decision decision;
          if (OnStep(PatternStep(id, pattern, step)) != QC_OK || Choose(id, &decision) != QC_OK) {
            problem = id + ": " + api_->last_error();
          } else if (decision.tier_index != reference[pattern][step].tier_index ||
                     std::strcmp(decision.reason, reference[pattern][step].reason) != 0) {
            problem = id + " step " + std::to_string(step) + ": " + decision.reason + " vs " +
                      reference[pattern][step].reason;
          }
        }
      }
      workers_running.fetch_sub(1);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (size_t i = 0; i < problems.size(); ++i) EXPECT_EQ(problems[i], "") << "thread " << i;
  EXPECT_GE(reloads.load(), 2);
  std::string metrics = MetricsText(router_);
  EXPECT_NE(metrics.find("\nquantclaw_config_reloads_total " + std::to_string(reloads.load()) + "\n"),
            std::string::npos)
      << metrics;
}


}  // namespace

namespace {

// Whether `text` is valid UTF-8 (a decoder of its own, so the test does not share the library's).
bool ValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

// Tier names of 21 three-byte characters (63 bytes, the most a name may hold): a reason naming two of
// them overflows qc_decision.reason, and the cut must fall between characters, not inside one (a Python
// host decodes the field and raised UnicodeDecodeError on every decision).
TEST_F(AbiTest, TextFieldsAreCutBetweenCharacters) {
  std::string low, high;
  for (int i = 0; i < 21; ++i) {
    low += "\xe4\xbd\x8e";   // 低
    high += "\xe9\xab\x98";  // 高
  }
  const std::string config = R"({"tiers":[
      {"name":")" + high + R"(","format":"bf16","base_url":"http://h/v1","model":"m"},
      {"name":")" + low + R"(","format":"q4_0","base_url":"http://h/v1","model":"m"}],
      "policy":{"scorer":{"kind":"rules","default_score":0.1,"rules":[]}},
      "backend":{"breaker_failures":1}})";
  qc_router* router = NewRouter(config);
  ASSERT_NE(router, nullptr);
  ASSERT_EQ(OnStep(router, R"({"session_id":"s","messages":[{"role":"user","content":"hi"}]})"), QC_OK);
  // The low tier's breaker opens, so the reason names both tiers: longer than the field.
  const std::string outcome = R"({"session_id":"s","tier_name":")" + low + R"(","status":"OUTCOME_STATUS_UNAVAILABLE"})";
  qc_bytes bytes = Bytes(outcome);
  ASSERT_EQ(api_->report_outcome(router, &bytes, QC_FORMAT_JSON), QC_OK) << LastError();
  qc_decision decision;
  ASSERT_EQ(Choose(router, "s", &decision), QC_OK) << LastError();
  EXPECT_EQ(std::string(decision.tier_name), high);  // whole: names fit the field
  const std::string reason(decision.reason);
  EXPECT_GT(reason.size(), 180u) << reason;  // it did fill the field
  EXPECT_TRUE(ValidUtf8(reason)) << reason;
  EXPECT_NE(reason.find("failover"), std::string::npos) << reason;
  EXPECT_EQ(api_->router_free(router), QC_OK);
}

// ---------------------------------------------------------------------------------------------------
// The learned scorer: a model file on disk, named by the config, read when the config is (re)loaded.

// Where quantclaw.step.v1 keeps the share of digits among the step's new bytes (features/feature_vector.h;
// the unit tests pin the position by name).
constexpr int kDigitShare = 163 - 10 + 2;

// A logistic model that reads only the digits' share: score = sigmoid(bias + weight * share).
quantclaw_test::ModelSpec DigitsModel(float weight, float bias) {
  quantclaw_test::ModelSpec spec;
  spec.logistic_weights.assign(163, 0.0f);
  spec.logistic_weights[kDigitShare] = weight;
  spec.logistic_bias = bias;
  return spec;
}

std::string LearnedConfig(const std::string& model_path) {
  return R"({"tiers":[
      {"name":"bf16","format":"bf16","base_url":"http://127.0.0.1:1/v1","model":"m"},
      {"name":"w4a16","format":"w4a16","base_url":"http://127.0.0.1:1/v1","model":"m-awq"}],
      "policy":{"scorer":{"kind":"learned","model":")" + model_path + R"("}}})";
}

std::string ToolStep(std::string_view session, uint64_t step_index, std::string_view content) {
  return StepJson(session, step_index, "act",
                  std::string(R"([{"role": "tool", "content": ")").append(content).append("\"}]"));
}

constexpr std::string_view kNumbers = "| 12.50 | 7.25 | 1003.75 |\\n| 4.00 | 88.10 | 19.99 |";
constexpr std::string_view kProse = "The committee met on a quiet afternoon and agreed to revisit the proposal.";

class LearnedAbiTest : public AbiTest {
 protected:
  void SetUp() override {
    AbiTest::SetUp();
    path_ = (std::filesystem::path(testing::TempDir()) /
             ("abi_learned_" + std::string(testing::UnitTest::GetInstance()->current_test_info()->name()) +
              ".qcmodel")).string();
  }
  void TearDown() override {
    std::filesystem::remove(path_);
    AbiTest::TearDown();
  }

  // Feeds one numeric and one prose step to fresh sessions and decides both.
  void Decide(qc_router* router, uint64_t step_index, qc_decision* numbers, qc_decision* prose) {
    ASSERT_EQ(OnStep(router, ToolStep("numbers", step_index, kNumbers)), QC_OK) << LastError();
    ASSERT_EQ(OnStep(router, ToolStep("prose", step_index, kProse)), QC_OK) << LastError();
    ASSERT_EQ(Choose(router, "numbers", numbers), QC_OK) << LastError();
    ASSERT_EQ(Choose(router, "prose", prose), QC_OK) << LastError();
  }

  std::string path_;
};

TEST_F(LearnedAbiTest, RoutesANumericStepHighAndAProseStepLowAsTheWeightsSay) {
  ASSERT_TRUE(quantclaw_test::WriteModelFile(path_, DigitsModel(20.0f, -5.0f)));
  qc_router* router = NewRouter(LearnedConfig(path_));
  ASSERT_NE(router, nullptr);
  qc_decision numbers, prose;
  Decide(router, 0, &numbers, &prose);
  EXPECT_STREQ(numbers.tier_name, "bf16");
  EXPECT_GT(numbers.score, 0.9);
  EXPECT_EQ(std::string(numbers.reason).rfind("learned: scorer 0 logistic 163-1 scored ", 0), 0u) << numbers.reason;
  EXPECT_STREQ(prose.tier_name, "w4a16");
  EXPECT_NEAR(prose.score, 1.0 / (1.0 + std::exp(5.0)), 1e-6);  // no digits: sigmoid(bias)
  EXPECT_EQ(api_->router_free(router), QC_OK);
}

TEST_F(LearnedAbiTest, ReloadReadsTheModelFileAgain) {
  ASSERT_TRUE(quantclaw_test::WriteModelFile(path_, DigitsModel(20.0f, -5.0f)));
  const std::string config = LearnedConfig(path_);
  qc_router* router = NewRouter(config);
  ASSERT_NE(router, nullptr);
  qc_decision numbers, prose;
  Decide(router, 0, &numbers, &prose);
  EXPECT_STREQ(numbers.tier_name, "bf16");
  EXPECT_STREQ(prose.tier_name, "w4a16");

  // A new model at the same path, the same config: the reload swaps the model.
  ASSERT_TRUE(quantclaw_test::WriteModelFile(path_, DigitsModel(-20.0f, 5.0f)));
  ASSERT_EQ(api_->router_reload(router, config.data(), config.size()), QC_OK) << LastError();
  Decide(router, 1, &numbers, &prose);
  EXPECT_STREQ(numbers.tier_name, "w4a16");
  EXPECT_STREQ(prose.tier_name, "bf16");

  // A damaged file fails the reload, naming the pointer, the file and the offset; the last model stays.
  const std::string good = ReadFile(path_);
  {
    std::ofstream cut(path_, std::ios::binary | std::ios::trunc);
    cut.write(good.data(), static_cast<std::streamsize>(good.size() - 10));
  }
  EXPECT_EQ(api_->router_reload(router, config.data(), config.size()), QC_ERR_INVALID_CONFIG);
  EXPECT_EQ(LastError(), "/policy/scorer/model: " + path_ + ": offset " + std::to_string(good.size() - 10) +
                             ": truncated: the header promises " + std::to_string(good.size() - 16) +
                             " payload bytes, " + std::to_string(good.size() - 26) + " are present");
  Decide(router, 2, &numbers, &prose);
  EXPECT_STREQ(numbers.tier_name, "w4a16");
  EXPECT_STREQ(prose.tier_name, "bf16");
  EXPECT_EQ(api_->router_free(router), QC_OK);
}

TEST_F(LearnedAbiTest, AMissingModelIsAConfigErrorAtItsPointer) {
  const std::string config = LearnedConfig(path_);
  qc_router* router = nullptr;
  EXPECT_EQ(api_->router_new(config.data(), config.size(), &router), QC_ERR_INVALID_CONFIG);
  EXPECT_EQ(router, nullptr);
  EXPECT_EQ(LastError(), "/policy/scorer/model: " + path_ + ": No such file or directory");
}

}  // namespace
