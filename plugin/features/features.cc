#include "features/features.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "quantclaw/v1/step.pb.h"
#include "util/hash.h"
#include "util/utf8.h"

namespace quantclaw {
namespace {

bool IsWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c >= 0x80;
}

// Hashes word unigrams and bigrams into signed buckets (the hashing trick), then L2-normalises.
void HashText(std::string_view text, float* buckets) {
  std::fill(buckets, buckets + kTextHashBuckets, 0.0f);
  if (text.size() > kTextHashMaxBytes) {
    text.remove_prefix(CodePointStartAtOrAfter(text, text.size() - kTextHashMaxBytes));
  }
  uint64_t previous_word = 0;
  bool have_previous = false;
  size_t i = 0;
  char lowered[64];
  while (i < text.size()) {
    while (i < text.size() && !IsWordByte(static_cast<unsigned char>(text[i]))) ++i;
    size_t start = i;
    while (i < text.size() && IsWordByte(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start) break;
    size_t length = std::min<size_t>(i - start, sizeof(lowered));
    for (size_t k = 0; k < length; ++k) {
      char c = text[start + k];
      lowered[k] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    uint64_t word = Fnv1a(std::string_view(lowered, length));
    auto add = [buckets](uint64_t hash) {
      buckets[hash % kTextHashBuckets] += (hash >> 63) ? -1.0f : 1.0f;
    };
    add(word);
    if (have_previous) add(word * 31 + previous_word * kFnvPrime + 0x9E3779B97F4A7C15ull);
    previous_word = word;
    have_previous = true;
  }
  double norm = 0;
  for (int b = 0; b < kTextHashBuckets; ++b) norm += double(buckets[b]) * buckets[b];
  if (norm > 0) {
    float scale = static_cast<float>(1.0 / std::sqrt(norm));
    for (int b = 0; b < kTextHashBuckets; ++b) buckets[b] *= scale;
  }
}

CharClass ClassOf(unsigned char c) {
  if (c >= 'a' && c <= 'z') return CharClass::kLower;
  if (c >= 'A' && c <= 'Z') return CharClass::kUpper;
  if (c >= '0' && c <= '9') return CharClass::kDigit;
  if (c == '\n' || c == '\r') return CharClass::kNewline;
  if (c == ' ' || c == '\t') return CharClass::kSpace;
  if (c >= 0x80) return CharClass::kNonAscii;
  switch (c) {
    case '{': case '}': case '[': case ']': case '(': case ')': case '<': case '>':
      return CharClass::kBracket;
    case '"': case '\'': case '`':
      return CharClass::kQuote;
    case '+': case '-': case '*': case '/': case '=': case '%': case '^': case '&': case '|': case '~':
      return CharClass::kOperator;
    default:
      return CharClass::kPunctuation;
  }
}

// Byte trigrams into signed buckets, and the byte-class shares. Trigrams see through word boundaries
// (numbers with separators, JSON punctuation, code) where the word n-grams see only words.
void HashCharacters(std::string_view text, float* buckets, float* classes) {
  std::fill(buckets, buckets + kCharHashBuckets, 0.0f);
  std::fill(classes, classes + kCharClassCount, 0.0f);
  if (text.size() > kTextHashMaxBytes) {
    text.remove_prefix(CodePointStartAtOrAfter(text, text.size() - kTextHashMaxBytes));
  }
  if (text.empty()) return;
  uint32_t counts[kCharClassCount] = {};
  uint32_t window = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    ++counts[static_cast<int>(ClassOf(c))];
    window = ((window << 8) | c) & 0xFFFFFFu;
    if (i < 2) continue;
    const uint64_t hash = (window + 1) * 0x9E3779B97F4A7C15ull;
    buckets[(hash >> 32) % kCharHashBuckets] += (hash >> 63) ? -1.0f : 1.0f;
  }
  double norm = 0;
  for (int b = 0; b < kCharHashBuckets; ++b) norm += double(buckets[b]) * buckets[b];
  if (norm > 0) {
    float scale = static_cast<float>(1.0 / std::sqrt(norm));
    for (int b = 0; b < kCharHashBuckets; ++b) buckets[b] *= scale;
  }
  for (int k = 0; k < kCharClassCount; ++k) {
    classes[k] = static_cast<float>(double(counts[k]) / double(text.size()));
  }
}

bool StartsWithIgnoringCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

constexpr uint64_t kPerMessageTokens = 4;  // role and template framing per chat message

}  // namespace

void InlineName::Assign(std::string_view value) {
  const size_t length = value.size() <= kCapacity ? value.size() : CodePointStartAtOrBefore(value, kCapacity);
  std::copy_n(value.data(), length, text);
  text[length] = '\0';
  size = static_cast<uint8_t>(length);
}

std::string_view NumericFeatureName(NumericFeature feature) {
  switch (feature) {
    case NumericFeature::kContextTokens: return "context_tokens";
    case NumericFeature::kNewTokens: return "new_tokens";
    case NumericFeature::kStepIndex: return "step_index";
    case NumericFeature::kTurnCount: return "turn_count";
    case NumericFeature::kToolCalls: return "tool_calls";
    case NumericFeature::kRecentToolErrors: return "recent_tool_errors";
    case NumericFeature::kRepeatedActions: return "repeated_actions";
    case NumericFeature::kToolsOffered: return "tools_offered";
  }
  return "";
}

double SessionFeatures::Numeric(NumericFeature feature) const {
  switch (feature) {
    case NumericFeature::kContextTokens: return static_cast<double>(context_tokens);
    case NumericFeature::kNewTokens: return static_cast<double>(new_tokens);
    case NumericFeature::kStepIndex: return static_cast<double>(step_index);
    case NumericFeature::kTurnCount: return turn_count;
    case NumericFeature::kToolCalls: return tool_calls;
    case NumericFeature::kRecentToolErrors: return recent_tool_errors;
    case NumericFeature::kRepeatedActions: return repeated_actions;
    case NumericFeature::kToolsOffered: return tools_offered;
  }
  return 0;
}

uint64_t ApproxTokens(std::string_view text) {
  uint64_t ascii = 0;
  uint64_t code_points = 0;
  for (unsigned char c : text) {
    if (c < 0x80) {
      ++ascii;
    } else if (!IsUtf8Continuation(c)) {
      ++code_points;  // a leading byte: one non-ASCII code point
    }
  }
  return (ascii + 3) / 4 + code_points;
}

void AppendMessageText(const v1::ChatMessage& message, std::string* out) {
  if (!message.has_content()) return;
  const auto& content = message.content();
  if (content.kind_case() == google::protobuf::Value::kStringValue) {
    out->append(content.string_value());
  } else if (content.kind_case() == google::protobuf::Value::kListValue) {
    for (const auto& part : content.list_value().values()) {
      if (part.kind_case() != google::protobuf::Value::kStructValue) continue;
      const auto& fields = part.struct_value().fields();
      auto text = fields.find("text");
      if (text != fields.end() && text->second.kind_case() == google::protobuf::Value::kStringValue) {
        if (!out->empty()) out->push_back('\n');
        out->append(text->second.string_value());
      }
    }
  }
}

bool LooksLikeToolError(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\n' || text.front() == '\t' ||
                           text.front() == '\r')) {
    text.remove_prefix(1);
  }
  for (std::string_view prefix : {"error", "exception", "traceback", "failed", "fatal", "{\"error\"",
                                  "command failed", "permission denied", "no such file"}) {
    if (StartsWithIgnoringCase(text, prefix)) return true;
  }
  return false;
}

bool UpdateFeatures(const v1::Step& step, SessionFeatures* f, std::string* latest_user_prompt) {
  f->step_index = step.has_step_index() ? step.step_index() : (f->steps_seen == 0 ? 0 : f->step_index + 1);
  const bool first_step = f->steps_seen == 0;
  ++f->steps_seen;

  uint64_t new_tokens = 0;
  bool saw_user = false;
  std::string step_text;  // the new messages' text, for the n-gram features
  std::string message_text;
  for (const auto& message : step.messages()) {
    message_text.clear();
    AppendMessageText(message, &message_text);
    new_tokens += kPerMessageTokens + ApproxTokens(message_text);
    const std::string& role = message.role();
    if (role == "user") {
      ++f->turn_count;
      saw_user = true;
      latest_user_prompt->assign(message_text);
    } else if (role == "tool") {
      bool error = message.is_error() || LooksLikeToolError(message_text);
      f->tool_result_error_bits = static_cast<uint8_t>((f->tool_result_error_bits << 1) | (error ? 1 : 0));
      f->last_tool_error = error;
    }
    for (const auto& call : message.tool_calls()) {
      const auto& function = call.function();
      new_tokens += ApproxTokens(function.name()) + ApproxTokens(function.arguments());
      ++f->tool_calls;
      // Newest tool name first.
      int keep = std::min<int>(f->recent_tool_count, kRecentToolNames - 1);
      for (int k = keep; k > 0; --k) f->recent_tools[k] = f->recent_tools[k - 1];
      f->recent_tools[0].Assign(function.name());
      f->recent_tool_count = static_cast<uint8_t>(std::min(f->recent_tool_count + 1, kRecentToolNames));
      // A repeated action: the same tool with the same arguments as one of the recent calls.
      uint64_t signature = Fnv1a(function.arguments(), Fnv1a(function.name()) ^ 0xff);
      bool repeated = false;
      for (int k = 0; k < f->action_count; ++k) repeated |= f->action_hashes[k] == signature;
      f->action_hashes[f->action_next] = signature;
      f->action_next = static_cast<uint8_t>((f->action_next + 1) % kRecentActionWindow);
      f->action_count = static_cast<uint8_t>(std::min(f->action_count + 1, kRecentActionWindow));
      f->action_repeat_bits = static_cast<uint8_t>((f->action_repeat_bits << 1) | (repeated ? 1 : 0));
    }
    if (!step_text.empty()) step_text.push_back('\n');
    step_text.append(message_text);
    // Only the tail is hashed; trimming as we go bounds the copy for steps with many messages.
    if (step_text.size() > 2 * kTextHashMaxBytes) {
      step_text.erase(0, step_text.size() - kTextHashMaxBytes);
    }
  }
  f->new_tokens = new_tokens;
  f->context_tokens += new_tokens;
  f->recent_tool_errors = static_cast<uint32_t>(std::popcount(f->tool_result_error_bits));
  f->repeated_actions = static_cast<uint32_t>(std::popcount(f->action_repeat_bits));

  const auto& request = step.request();
  f->tools_offered = static_cast<uint32_t>(request.tools_size());
  const std::string& format = request.response_format().type();
  f->json_requested = format == "json_object" || format == "json_schema";

  if (!step.hints().step_kind().empty()) {
    f->step_kind.Assign(step.hints().step_kind());
  } else if (first_step) {
    f->step_kind.Assign("first");
  } else if (!step.messages().empty() && step.messages().rbegin()->role() == "tool") {
    f->step_kind.Assign("tool_followup");
  } else if (saw_user) {
    f->step_kind.Assign("user_turn");
  } else {
    f->step_kind.Assign("continue");
  }
  HashText(step_text, f->text_hash);
  HashCharacters(step_text, f->char_hash, f->char_classes);
  return saw_user;
}

}  // namespace quantclaw
