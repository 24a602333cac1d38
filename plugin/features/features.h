// Per-session features, extracted incrementally: each step reads only the messages new since the last
// one, so the cost of qc_on_step follows the new text, never the whole context. The state is fixed-size
// (no heap), which keeps a session well under 4 KiB.
#ifndef QUANTCLAW_PLUGIN_FEATURES_FEATURES_H_
#define QUANTCLAW_PLUGIN_FEATURES_FEATURES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace quantclaw {

namespace v1 {
class Step;
class ChatMessage;
}  // namespace v1

inline constexpr int kRecentToolNames = 4;       // newest tool names kept for rules
inline constexpr int kRecentActionWindow = 8;    // tool calls compared for repetition
inline constexpr int kRecentToolResultWindow = 8;
inline constexpr int kTextHashBuckets = 64;
inline constexpr int kCharHashBuckets = 64;
// Byte classes whose shares of the newest text are features: what the text is made of (prose, numbers,
// code, JSON) rather than which words it uses.
enum class CharClass : uint8_t {
  kLower, kUpper, kDigit, kSpace, kNewline, kBracket, kQuote, kOperator, kPunctuation, kNonAscii,
};
inline constexpr int kCharClassCount = 10;
// Only the newest this-many bytes of a step's new text are hashed into n-gram features, so a step
// that pastes a huge document costs a bounded amount there (token counting still reads all of it).
inline constexpr size_t kTextHashMaxBytes = 16 * 1024;

// A short name held inline (step kind, tool name, task type): truncated at a UTF-8 boundary.
struct InlineName {
  static constexpr size_t kCapacity = 31;
  char text[kCapacity + 1] = {};
  uint8_t size = 0;

  std::string_view view() const { return std::string_view(text, size); }
  void Assign(std::string_view value);
  bool empty() const { return size == 0; }
};

// Features that rules can compare with numbers (config keys "<name>_gt", "_ge", "_lt", "_le").
enum class NumericFeature : uint8_t {
  kContextTokens,
  kNewTokens,
  kStepIndex,
  kTurnCount,
  kToolCalls,
  kRecentToolErrors,
  kRepeatedActions,
  kToolsOffered,
};
inline constexpr int kNumericFeatureCount = 8;
std::string_view NumericFeatureName(NumericFeature feature);

struct SessionFeatures {
  uint64_t step_index = 0;      // the latest step's index
  uint64_t steps_seen = 0;
  uint64_t context_tokens = 0;  // approximate tokens of every message so far
  uint64_t new_tokens = 0;      // approximate tokens of the latest step's new messages
  uint32_t turn_count = 0;      // user messages so far
  uint32_t tool_calls = 0;      // assistant tool calls so far
  uint32_t tools_offered = 0;   // tools in the latest request
  uint32_t recent_tool_errors = 0;  // errors among the last kRecentToolResultWindow tool results
  uint32_t repeated_actions = 0;    // repeats among the last kRecentActionWindow tool calls
  bool json_requested = false;      // the latest request asks for JSON output
  bool last_tool_error = false;     // the newest tool result was an error
  InlineName step_kind;             // hinted by the host, else inferred
  InlineName recent_tools[kRecentToolNames];  // newest first
  uint8_t recent_tool_count = 0;
  // Tool-call signatures (name + arguments hash) and whether each repeated an earlier one.
  uint64_t action_hashes[kRecentActionWindow] = {};
  uint8_t action_count = 0;  // saturates at kRecentActionWindow
  uint8_t action_next = 0;   // ring position
  uint8_t action_repeat_bits = 0;
  uint8_t tool_result_error_bits = 0;  // newest in bit 0
  // Signed feature hashing of word unigrams and bigrams of the latest step's new text, L2-normalised.
  float text_hash[kTextHashBuckets] = {};
  // Signed feature hashing of byte trigrams of the same text, L2-normalised: what word hashing misses
  // (numbers, punctuation, code), whatever the words.
  float char_hash[kCharHashBuckets] = {};
  // The share of the same text's bytes in each CharClass (sums to 1 for non-empty text).
  float char_classes[kCharClassCount] = {};

  double Numeric(NumericFeature feature) const;
};

// Approximate token count: about four ASCII bytes per token and one token per non-ASCII code point
// (CJK text runs near one token per character). Servers count exactly; this is for routing only.
uint64_t ApproxTokens(std::string_view text);

// The text of a chat message: its content string, or the "text" of its content parts.
void AppendMessageText(const v1::ChatMessage& message, std::string* out);

// Whether a tool result reads as a failure, for hosts that do not mark it (is_error).
bool LooksLikeToolError(std::string_view text);

// Reads one step's new messages into the session's features. When the step carries a user message,
// *latest_user_prompt receives its text (the prompt QuantClaw's task types classify) and the result
// is true.
bool UpdateFeatures(const v1::Step& step, SessionFeatures* features, std::string* latest_user_prompt);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_FEATURES_FEATURES_H_
