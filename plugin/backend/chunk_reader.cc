#include "backend/chunk_reader.h"

#include <cmath>
#include <limits>

#include <boost/json/basic_parser_impl.hpp>

namespace quantclaw {
namespace {

namespace json = boost::json;
using boost::system::error_code;

// Where a value sits, as far as the aggregate cares. kRich marks the keys whose containers only the
// document path reads (usage, logprobs, tool-call deltas).
enum class Slot : uint8_t {
  kIgnored, kRoot, kId, kModel, kCreated, kChoices, kChoice, kFinishReason, kText, kDelta, kRole, kContent,
  kReasoning, kRich,
};

// Deeper than the parser's own limit (32, the default), so the parser refuses first.
constexpr int kMaxDepth = 64;

class ChunkHandler {
 public:
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);

  void Reset() {
    depth_ = 0;
    rich_ = false;
    key_.clear();
    ResetField(Slot::kId);
    ResetField(Slot::kModel);
    ResetField(Slot::kCreated);
    ResetField(Slot::kChoices);
  }
  bool rich() const { return rich_; }
  const ChunkFields& fields() const { return fields_; }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) { return Open(false); }
  bool on_object_end(std::size_t, error_code&) { return Close(); }
  bool on_array_begin(error_code&) { return Open(true); }
  bool on_array_end(std::size_t, error_code&) { return Close(); }
  bool on_key_part(json::string_view part, std::size_t, error_code&) {
    key_.append(part.data(), part.size());
    return true;
  }
  bool on_key(json::string_view part, std::size_t, error_code&) {
    key_.append(part.data(), part.size());
    SetKey();
    key_.clear();
    return true;
  }
  bool on_string_part(json::string_view part, std::size_t, error_code&) {
    if (std::string* field = Text(ValueSlot())) field->append(part.data(), part.size());
    return true;
  }
  bool on_string(json::string_view part, std::size_t, error_code&) {
    if (std::string* field = Text(ValueSlot())) field->append(part.data(), part.size());
    return Scalar();
  }
  bool on_number_part(json::string_view, error_code&) { return true; }
  bool on_int64(int64_t number, json::string_view, error_code&) { return Created(number, true); }
  bool on_uint64(uint64_t number, json::string_view, error_code&) {
    return Created(static_cast<int64_t>(number), number <= uint64_t(std::numeric_limits<int64_t>::max()));
  }
  bool on_double(double number, json::string_view, error_code&) {
    int64_t whole = 0;
    bool is_whole = WholeNumber(number, &whole);
    return Created(whole, is_whole);
  }
  bool on_bool(bool, error_code&) { return Scalar(); }
  bool on_null(error_code&) { return Scalar(); }
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }

 private:
  struct Frame {
    Slot slot;
    bool array;
    uint32_t index;  // arrays: the element being read
    Slot key;        // objects: where the current key's value goes
  };

  // The slot of the value about to be read.
  Slot ValueSlot() const {
    if (depth_ == 0) return Slot::kRoot;
    const Frame& top = stack_[depth_ - 1];
    if (!top.array) return top.key;
    return top.slot == Slot::kChoices && top.index == 0 ? Slot::kChoice : Slot::kIgnored;
  }

  std::string* Text(Slot slot) {
    switch (slot) {
      case Slot::kId: return &fields_.id;
      case Slot::kModel: return &fields_.model;
      case Slot::kFinishReason: return &fields_.finish_reason;
      case Slot::kText: return &fields_.text;
      case Slot::kRole: return &fields_.role;
      case Slot::kContent: return &fields_.content;
      case Slot::kReasoning: return &fields_.reasoning;
      default: return nullptr;
    }
  }

  // A key that repeats replaces what the earlier one said, as the document path's parser does.
  void ResetField(Slot slot) {
    switch (slot) {
      case Slot::kCreated:
        fields_.has_created = false;
        return;
      case Slot::kChoices:
        fields_.has_choice = false;
        fields_.finish_reason.clear();
        fields_.text.clear();
        [[fallthrough]];
      case Slot::kDelta:
        fields_.has_delta = false;
        fields_.role.clear();
        fields_.content.clear();
        fields_.reasoning.clear();
        return;
      default:
        if (std::string* field = Text(slot)) field->clear();
        return;
    }
  }

  void SetKey() {
    Frame& top = stack_[depth_ - 1];
    const std::string_view key = key_;
    Slot slot = Slot::kIgnored;
    switch (top.slot) {
      case Slot::kRoot:
        slot = key == "id" ? Slot::kId
               : key == "model" ? Slot::kModel
               : key == "created" ? Slot::kCreated
               : key == "choices" ? Slot::kChoices
               : key == "usage" ? Slot::kRich
                                : Slot::kIgnored;
        break;
      case Slot::kChoice:
        slot = key == "finish_reason" ? Slot::kFinishReason
               : key == "text" ? Slot::kText
               : key == "delta" ? Slot::kDelta
               : key == "logprobs" ? Slot::kRich
                                   : Slot::kIgnored;
        break;
      case Slot::kDelta:
        slot = key == "role" ? Slot::kRole
               : key == "content" ? Slot::kContent
               : key == "reasoning_content" ? Slot::kReasoning
               : key == "tool_calls" ? Slot::kRich
                                     : Slot::kIgnored;
        break;
      default:
        break;
    }
    ResetField(slot);
    top.key = slot;
  }

  bool Open(bool array) {
    Slot slot = ValueSlot();
    if (slot == Slot::kRich) {
      rich_ = true;
      return false;  // stop here: the document path reads this event
    }
    if (depth_ == 0 && array) return false;  // not an object
    if (depth_ == kMaxDepth) return false;
    // A container of the kind the aggregate does not expect there is ignored, as the document path does.
    const bool fits = slot == Slot::kRoot                                  ? !array
                      : slot == Slot::kChoices                             ? array
                      : slot == Slot::kChoice || slot == Slot::kDelta      ? !array
                                                                           : false;
    if (!fits) slot = Slot::kIgnored;
    if (slot == Slot::kChoice) fields_.has_choice = true;
    if (slot == Slot::kDelta) fields_.has_delta = true;
    stack_[depth_++] = Frame{slot, array, 0, Slot::kIgnored};
    return true;
  }

  bool Close() {
    --depth_;
    return depth_ == 0 || Advance();
  }

  // A bare value at the top is not an object; inside an array, a value moves on to the next element.
  bool Scalar() { return depth_ > 0 && Advance(); }

  bool Advance() {
    Frame& top = stack_[depth_ - 1];
    if (top.array) ++top.index;
    return true;
  }

  bool Created(int64_t number, bool whole) {
    if (depth_ > 0 && ValueSlot() == Slot::kCreated && whole) {
      fields_.has_created = true;
      fields_.created = number;
    }
    return Scalar();
  }

  Frame stack_[kMaxDepth] = {};
  int depth_ = 0;
  bool rich_ = false;
  std::string key_;
  ChunkFields fields_;
};

}  // namespace

struct ChunkReader::Parser {
  json::basic_parser<ChunkHandler> parser{json::parse_options()};
};

ChunkReader::ChunkReader() : parser_(std::make_unique<Parser>()) {}
ChunkReader::~ChunkReader() = default;

bool ChunkReader::Read(std::string_view event) {
  json::basic_parser<ChunkHandler>& parser = parser_->parser;
  parser.reset();
  parser.handler().Reset();
  error_code ec;
  const size_t read = parser.write_some(false, event.data(), event.size(), ec);
  if (ec || !parser.done() || parser.handler().rich()) return false;
  // The parser stops after one value; what follows may only be white space, as for a document.
  return event.find_first_not_of(" \t\n\r", read) == std::string_view::npos;
}

const ChunkFields& ChunkReader::fields() const { return parser_->parser.handler().fields(); }

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
