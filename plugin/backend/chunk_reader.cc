#include "backend/chunk_reader.h"

#include <cmath>
#include <cstring>

#include "util/utf8.h"

namespace quantclaw {
namespace {

// Where a value sits, as far as the aggregate cares. kRich marks the keys whose containers only the
// document path reads (usage, logprobs, tool-call deltas); kError a top-level "error" (the server
// reporting a failure mid-stream), whatever its value: the document path judges it.
enum class Slot : uint8_t {
  kIgnored, kRoot, kId, kModel, kCreated, kChoices, kChoice, kFinishReason, kText, kDelta, kRole, kContent,
  kReasoningContent, kReasoning, kRich, kError,
};

// Below the document parser's own depth limit (32), so whatever is near it goes to that parser.
constexpr int kMaxDepth = 30;
// Integers of up to 18 digits fit int64 whatever they are; longer ones, fractions of more than 20
// digits and exponents go to the document path, whose number rules (double rounding, overflow) are
// the reference.
constexpr int kMaxIntegerDigits = 18;
constexpr int kMaxFractionDigits = 20;

// The bytes of eight (little-endian) that are a quote, a backslash, a control character or not ASCII,
// as their high bits: the classic "has a byte less than n" and "has a zero byte" bit tricks, on the word
// and on it xor the byte. The lowest bit set is exact (a borrow only spreads upwards from a real one).
constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHighBits = 0x8080808080808080ull;
constexpr uint64_t BytesToLookAt(uint64_t word) {
  const uint64_t control = (word - kOnes * 0x20) & ~word;
  const uint64_t quote = ((word ^ (kOnes * '"')) - kOnes) & ~(word ^ (kOnes * '"'));
  const uint64_t backslash = ((word ^ (kOnes * '\\')) - kOnes) & ~(word ^ (kOnes * '\\'));
  return (control | quote | backslash | word) & kHighBits;
}

// Bytes a JSON string holds as they are: printable ASCII but the quote and the backslash.
constexpr struct PlainBytes {
  bool table[256] = {};
  constexpr PlainBytes() {
    for (int c = 0x20; c < 0x80; ++c) table[c] = c != '"' && c != '\\';
  }
  constexpr bool operator[](unsigned char c) const { return table[c]; }
} kPlainByte;

// One pass over a chunk: a strict JSON scanner (RFC 8259, UTF-8 checked) that keeps only the fields the
// aggregate reads. It accepts a subset of JSON, and everything it accepts is valid JSON; anything else
// (and every rich event) makes Scan() false, and the event goes to the document path.
class Scanner {
 public:
  // `decoded`: ChunkReader's nine buffers, one per text slot (by Field()) and the last for keys.
  Scanner(std::string_view text, ChunkFields* fields, std::string* decoded)
      : p_(text.data()), end_(text.data() + text.size()), fields_(fields), decoded_(decoded) {}

  bool Scan() {
    SkipSpace();
    if (p_ == end_ || *p_ != '{') return false;
    if (!Object(Slot::kRoot)) return false;
    SkipSpace();
    return p_ == end_;
  }

 private:
  void SkipSpace() {
    const char* p = p_;  // a local: reads through a char pointer may alias the members
    const char* const end = end_;
    while (p != end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
    p_ = p;
  }

  // The field a text slot fills, and the buffer its decoded copy goes to; null for other slots.
  std::string_view* Field(Slot slot, std::string** buffer) {
    switch (slot) {
      case Slot::kId: *buffer = &decoded_[0]; return &fields_->id;
      case Slot::kModel: *buffer = &decoded_[1]; return &fields_->model;
      case Slot::kFinishReason: *buffer = &decoded_[2]; return &fields_->finish_reason;
      case Slot::kText: *buffer = &decoded_[3]; return &fields_->text;
      case Slot::kRole: *buffer = &decoded_[4]; return &fields_->role;
      case Slot::kContent: *buffer = &decoded_[5]; return &fields_->content;
      case Slot::kReasoningContent: *buffer = &decoded_[6]; return &fields_->reasoning_content;
      case Slot::kReasoning: *buffer = &decoded_[7]; return &fields_->reasoning;
      default: *buffer = nullptr; return nullptr;
    }
  }

  // A key that repeats replaces what the earlier one said, as the document path's parser does.
  void ResetField(Slot slot) {
    switch (slot) {
      case Slot::kCreated:
        fields_->has_created = false;
        return;
      case Slot::kChoices:
        fields_->has_choice = false;
        fields_->finish_reason = {};
        fields_->text = {};
        [[fallthrough]];
      case Slot::kDelta:
        fields_->has_delta = false;
        fields_->role = {};
        fields_->content = {};
        fields_->reasoning_content = {};
        fields_->reasoning = {};
        return;
      default: {
        std::string* buffer;
        if (std::string_view* field = Field(slot, &buffer)) *field = {};
        return;
      }
    }
  }

  // What the aggregate reads, by the object it is in and its key.
  struct Key {
    Slot object;
    std::string_view name;
    Slot value;
  };
  static constexpr Key kKeys[] = {
      {Slot::kRoot, "id", Slot::kId},
      {Slot::kRoot, "model", Slot::kModel},
      {Slot::kRoot, "created", Slot::kCreated},
      {Slot::kRoot, "choices", Slot::kChoices},
      {Slot::kRoot, "usage", Slot::kRich},
      {Slot::kRoot, "error", Slot::kError},
      {Slot::kChoice, "finish_reason", Slot::kFinishReason},
      {Slot::kChoice, "text", Slot::kText},
      {Slot::kChoice, "delta", Slot::kDelta},
      {Slot::kChoice, "logprobs", Slot::kRich},
      {Slot::kDelta, "role", Slot::kRole},
      {Slot::kDelta, "content", Slot::kContent},
      {Slot::kDelta, "reasoning_content", Slot::kReasoningContent},
      {Slot::kDelta, "reasoning", Slot::kReasoning},
      {Slot::kDelta, "tool_calls", Slot::kRich},
  };

  static Slot KeySlot(Slot object, std::string_view key) {
    for (const Key& known : kKeys) {
      if (known.object == object && known.name == key) return known.value;
    }
    return Slot::kIgnored;
  }

  bool Value(Slot slot) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        if (slot == Slot::kRich) return false;  // the document path reads this event
        if (slot == Slot::kChoice) fields_->has_choice = true;
        if (slot == Slot::kDelta) fields_->has_delta = true;
        return Object(slot == Slot::kChoice || slot == Slot::kDelta ? slot : Slot::kIgnored);
      case '[':
        if (slot == Slot::kRich) return false;
        return Array(slot == Slot::kChoices ? slot : Slot::kIgnored);
      case '"': {
        ++p_;
        std::string* buffer;
        std::string_view* field = Field(slot, &buffer);
        return String(buffer, field);
      }
      case 't':
        return Literal("true", 4);
      case 'f':
        return Literal("false", 5);
      case 'n':
        return Literal("null", 4);
      default:
        return Number(slot);
    }
  }

  // At a container's opening bracket: steps in, and past the closing one too when it is empty.
  enum class Next { kItem, kClosed, kBroken };
  Next Open(char close) {
    if (++depth_ > kMaxDepth) return Next::kBroken;
    ++p_;
    SkipSpace();
    return p_ != end_ && *p_ == close ? Close() : Next::kItem;
  }

  // After a member or an element: another follows a comma, or the container ends.
  Next AfterItem(char close) {
    SkipSpace();
    if (p_ == end_) return Next::kBroken;
    if (*p_ == close) return Close();
    if (*p_ != ',') return Next::kBroken;
    ++p_;
    SkipSpace();
    return Next::kItem;
  }

  Next Close() {
    ++p_;
    --depth_;
    return Next::kClosed;
  }

  bool Object(Slot slot) {
    for (Next next = Open('}'); next != Next::kClosed; next = AfterItem('}')) {
      if (next == Next::kBroken || p_ == end_ || *p_ != '"') return false;
      ++p_;
      std::string_view key;
      if (!String(&decoded_[8], &key)) return false;
      SkipSpace();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      SkipSpace();
      const Slot value_slot = slot == Slot::kIgnored ? Slot::kIgnored : KeySlot(slot, key);
      if (value_slot == Slot::kError) return false;  // the server reporting a failure: the document path decides
      ResetField(value_slot);
      if (!Value(value_slot)) return false;
    }
    return true;
  }

  bool Array(Slot slot) {
    int index = 0;
    for (Next next = Open(']'); next != Next::kClosed; next = AfterItem(']'), ++index) {
      if (next == Next::kBroken) return false;
      // Only choices[0] counts, and only as an object (Value ignores it otherwise).
      if (!Value(slot == Slot::kChoices && index == 0 ? Slot::kChoice : Slot::kIgnored)) return false;
    }
    return true;
  }

  // Past the bytes a string holds as they are: eight at a time (SWAR) up to the first that needs a look,
  // the last few one by one. Local pointers: reads through a char pointer may alias the scanner's
  // members, which would otherwise be reloaded on every byte.
  static const char* SkipPlain(const char* p, const char* const end) {
    while (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, sizeof(word));
      if (const uint64_t look = BytesToLookAt(word); look != 0) return p + __builtin_ctzll(look) / 8;
      p += 8;
    }
    while (p != end && kPlainByte[static_cast<unsigned char>(*p)]) ++p;
    return p;
  }

  // After the opening quote. Sets `out` (when not null) to the string's text: a view of the input when
  // it has no escapes, else of `scratch`, where the decoded text goes. Most strings in a chunk are short
  // ASCII without escapes: those take the few lines here, the rest the out-of-line loop below.
  bool String(std::string* scratch, std::string_view* out) {
    const char* const start = p_;
    const char* p = SkipPlain(p_, end_);
    if (p != end_ && *p == '"') {
      if (out != nullptr) *out = std::string_view(start, static_cast<size_t>(p - start));
      p_ = p + 1;
      return true;
    }
    p_ = p;
    return StringWithEscapesOrUtf8(start, scratch, out);
  }

  [[gnu::noinline]] bool StringWithEscapesOrUtf8(const char* const start, std::string* scratch,
                                                  std::string_view* out) {
    const char* run = start;  // escaped strings: the start of bytes not yet copied
    bool escaped = false;
    while (true) {
      p_ = SkipPlain(p_, end_);
      if (p_ == end_) return false;  // unterminated
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        if (out != nullptr) {
          if (escaped) {
            scratch->append(run, p_);
            *out = *scratch;
          } else {
            *out = std::string_view(start, static_cast<size_t>(p_ - start));
          }
        }
        ++p_;
        return true;
      }
      if (c == '\\') {
        std::string* into = out != nullptr ? scratch : nullptr;
        if (into != nullptr) {
          if (!escaped) into->clear();
          into->append(run, p_);
        }
        escaped = true;
        if (!Escape(into)) return false;
        run = p_;
      } else if (c < 0x20) {
        return false;  // control characters must be escaped
      } else if (!Utf8()) {
        return false;
      }
    }
  }

  // One well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most U+10FFFF). Only
  // non-ASCII bytes get here: SkipPlain above is the ASCII fast path.
  bool Utf8() {
    const DecodedCodePoint decoded = DecodeUtf8(std::string_view(p_, static_cast<size_t>(end_ - p_)), 0);
    if (!decoded.valid) return false;
    p_ += decoded.length;
    return true;
  }

  static int Hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool Hex4(unsigned* out) {
    if (end_ - p_ < 4) return false;
    unsigned value = 0;
    for (int i = 0; i < 4; ++i) {
      const int digit = Hex(p_[i]);
      if (digit < 0) return false;
      value = value * 16 + static_cast<unsigned>(digit);
    }
    p_ += 4;
    *out = value;
    return true;
  }

  // At a backslash.
  bool Escape(std::string* into) {
    ++p_;
    if (p_ == end_) return false;
    char simple = 0;
    switch (*p_) {
      case '"': simple = '"'; break;
      case '\\': simple = '\\'; break;
      case '/': simple = '/'; break;
      case 'b': simple = '\b'; break;
      case 'f': simple = '\f'; break;
      case 'n': simple = '\n'; break;
      case 'r': simple = '\r'; break;
      case 't': simple = '\t'; break;
      case 'u': break;
      default: return false;
    }
    ++p_;
    if (simple != 0) {
      if (into != nullptr) into->push_back(simple);
      return true;
    }
    unsigned code = 0;
    if (!Hex4(&code)) return false;
    if (code >= 0xDC00 && code <= 0xDFFF) return false;  // a lone low surrogate: the document path decides
    if (code >= 0xD800 && code <= 0xDBFF) {
      unsigned low = 0;
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
      p_ += 2;
      if (!Hex4(&low) || low < 0xDC00 || low > 0xDFFF) return false;
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    if (into != nullptr) AppendUtf8(static_cast<char32_t>(code), into);
    return true;
  }


  bool Literal(const char* word, ptrdiff_t size) {
    if (end_ - p_ < size || std::memcmp(p_, word, static_cast<size_t>(size)) != 0) return false;
    p_ += size;
    return true;
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)? within the digit limits above; "created" only as a whole non-negative
  // integer (the rest goes to the document path).
  bool Number(Slot slot) {
    const bool negative = *p_ == '-';
    if (negative) ++p_;
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
    int64_t value = 0;
    int digits = 0;
    if (*p_ == '0') {
      ++p_;
      digits = 1;
    } else {
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
        if (++digits > kMaxIntegerDigits) return false;
        value = value * 10 + (*p_ - '0');
        ++p_;
      }
    }
    bool whole = true;
    if (p_ != end_ && *p_ == '.') {
      whole = false;
      ++p_;
      int fraction = 0;
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
        if (++fraction > kMaxFractionDigits) return false;
        ++p_;
      }
      if (fraction == 0) return false;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) return false;
    if (slot == Slot::kCreated) {
      if (!whole || negative) return false;
      fields_->has_created = true;
      fields_->created = value;
    }
    return true;
  }

  const char* p_;
  const char* end_;
  ChunkFields* fields_;
  std::string* decoded_;
  int depth_ = 0;
};

}  // namespace

bool ChunkReader::Read(std::string_view event) {
  fields_ = ChunkFields();
  return Scanner(event, &fields_, decoded_).Scan();
}

bool WholeNumber(double number, int64_t* out) {
  // The range check comes first: casting a double outside int64's range is undefined behaviour.
  if (!std::isfinite(number) || number != std::floor(number) || number < -9.2233720368547758e18 ||
      number >= 9.2233720368547758e18) {
    return false;
  }
  *out = static_cast<int64_t>(number);
  return true;
}

}  // namespace quantclaw
