#include "policy/task_types/prefilter.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "util/utf8.h"

namespace quantclaw {
namespace internal {
namespace {

// Characters that stand for themselves under "iu" once folded: ASCII (letters lower-cased), and the
// CJK ideographs and punctuation, which have no case forms. Anything else ends a literal.
bool IsFoldableLiteral(char32_t code_point) {
  return code_point < 0x80 || (code_point >= 0x3000 && code_point <= 0x303F) ||
         (code_point >= 0x3400 && code_point <= 0x4DBF) ||
         (code_point >= 0x4E00 && code_point <= 0x9FFF);
}

char FoldAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsAsciiPunctuation(char c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
         (c >= '{' && c <= '~');
}

// A recursive-descent reading of the pattern that keeps only what a match must contain. A
// sequence's clauses are its items' clauses together; an alternation's is one clause, a clause
// chosen from each alternative (if any alternative requires nothing, neither does the
// alternation); an item that may be absent (?, *, {0,...}) and negative lookaround require
// nothing. Positive lookaround requires its body in the subject, which is what is scanned.
class Extractor {
 public:
  explicit Extractor(std::string_view pattern) : pattern_(pattern) {}

  std::optional<RequiredLiterals> Pattern() {
    std::optional<RequiredLiterals> clauses = Alternation();
    if (!clauses || pos_ != pattern_.size()) return std::nullopt;
    return clauses;
  }

 private:
  std::optional<RequiredLiterals> Alternation() {
    std::vector<RequiredLiterals> alternatives;
    while (true) {
      std::optional<RequiredLiterals> sequence = Sequence();
      if (!sequence) return std::nullopt;
      alternatives.push_back(std::move(*sequence));
      if (pos_ >= pattern_.size() || pattern_[pos_] != '|') break;
      ++pos_;
    }
    if (alternatives.size() == 1) return std::move(alternatives[0]);
    LiteralClause either;
    for (const RequiredLiterals& alternative : alternatives) {
      if (alternative.empty()) return RequiredLiterals{};
      // The clause whose shortest literal is longest: the least likely to be present by chance.
      const auto shortest = [](const LiteralClause& clause) {
        size_t length = std::string::npos;
        for (const std::string& literal : clause) length = std::min(length, literal.size());
        return length;
      };
      const LiteralClause* best = &alternative[0];
      for (const LiteralClause& clause : alternative) {
        if (shortest(clause) > shortest(*best)) best = &clause;
      }
      either.insert(either.end(), best->begin(), best->end());
    }
    return RequiredLiterals{std::move(either)};
  }

  // Up to '|', ')' or the end.
  std::optional<RequiredLiterals> Sequence() {
    RequiredLiterals clauses;
    std::string run;  // literal characters matched one after another
    const auto flush = [&] {
      if (!run.empty()) clauses.push_back({std::move(run)});
      run.clear();
    };
    while (pos_ < pattern_.size() && pattern_[pos_] != '|' && pattern_[pos_] != ')') {
      std::string literal;          // the item, when it is one literal character
      RequiredLiterals group;       // the item's requirements, when it is a group
      const char c = pattern_[pos_];
      if (c == '\\') {
        if (pos_ + 1 >= pattern_.size()) return std::nullopt;
        const char escaped = pattern_[pos_ + 1];
        if (IsAsciiPunctuation(escaped)) {
          literal.assign(1, escaped);
          pos_ += 2;
        } else if (std::string_view("sSdDwWbBnrtfv").find(escaped) != std::string_view::npos) {
          pos_ += 2;  // a class, an assertion or a control character: no literal
        } else if ((escaped == 'p' || escaped == 'P') && pattern_.compare(pos_ + 2, 1, "{") == 0) {
          const size_t close = pattern_.find('}', pos_);
          if (close == std::string_view::npos) return std::nullopt;
          pos_ = close + 1;
        } else {
          return std::nullopt;  // \x41, \u..., \0, backreferences, \Q...: payloads not read here
        }
      } else if (c == '[') {
        if (!SkipClass()) return std::nullopt;
      } else if (c == '(') {
        std::optional<RequiredLiterals> inner = Group();
        if (!inner) return std::nullopt;
        group = std::move(*inner);
      } else if (c == '.' || c == '^' || c == '$') {
        ++pos_;
      } else if (c == '*' || c == '+' || c == '?' || c == '{' || c == ']' || c == '}') {
        return std::nullopt;  // a quantifier with nothing to repeat, or PCRE2's literal readings
      } else {
        const DecodedCodePoint decoded = DecodeUtf8(pattern_, pos_);
        if (!decoded.valid) return std::nullopt;
        if (IsFoldableLiteral(decoded.code_point)) {
          literal = decoded.code_point < 0x80 ? std::string(1, FoldAscii(c))
                                              : std::string(pattern_.substr(pos_, decoded.length));
        }
        pos_ += decoded.length;
      }
      int min_repeats = 1;
      bool repeats = false;
      if (!Quantifier(&min_repeats, &repeats)) return std::nullopt;
      if (!literal.empty() && min_repeats >= 1) {
        run += literal;
        if (repeats) flush();  // "ab+c" holds "ab" and "bc", not "abc"
        continue;
      }
      flush();
      if (min_repeats >= 1) {
        for (LiteralClause& clause : group) clauses.push_back(std::move(clause));
      }
    }
    flush();
    return clauses;
  }

  // At '(': the group and its ')'.
  std::optional<RequiredLiterals> Group() {
    ++pos_;
    bool required = true;
    if (pattern_.compare(pos_, 1, "?") == 0) {
      if (pattern_.compare(pos_, 2, "?:") == 0 || pattern_.compare(pos_, 2, "?=") == 0) {
        pos_ += 2;
      } else if (pattern_.compare(pos_, 2, "?!") == 0) {
        pos_ += 2;
        required = false;
      } else if (pattern_.compare(pos_, 3, "?<=") == 0) {
        pos_ += 3;
      } else if (pattern_.compare(pos_, 3, "?<!") == 0) {
        pos_ += 3;
        required = false;
      } else if (pattern_.compare(pos_, 2, "?<") == 0) {
        const size_t close = pattern_.find('>', pos_);
        if (close == std::string_view::npos) return std::nullopt;
        for (size_t i = pos_ + 2; i < close; ++i) {
          const char n = pattern_[i];
          if (!(n == '_' || (n >= 'a' && n <= 'z') || (n >= 'A' && n <= 'Z') ||
                (n >= '0' && n <= '9'))) {
            return std::nullopt;
          }
        }
        pos_ = close + 1;
      } else {
        return std::nullopt;  // inline options, verbs, comments, conditionals: not ours to read
      }
    } else if (pattern_.compare(pos_, 1, "*") == 0) {
      return std::nullopt;
    }
    std::optional<RequiredLiterals> inner = Alternation();
    if (!inner || pos_ >= pattern_.size() || pattern_[pos_] != ')') return std::nullopt;
    ++pos_;
    if (!required) return RequiredLiterals{};
    return inner;
  }

  bool SkipClass() {
    size_t i = pos_ + 1;
    if (i < pattern_.size() && pattern_[i] == '^') ++i;
    if (i < pattern_.size() && pattern_[i] == ']') {
      pos_ = i + 1;
      return true;
    }
    while (i < pattern_.size()) {
      const char c = pattern_[i];
      if (c == '\\') {
        if (i + 1 >= pattern_.size() || pattern_[i + 1] == 'Q') return false;
        i += 2;
      } else if (c == '[' && i + 1 < pattern_.size() &&
                 (pattern_[i + 1] == ':' || pattern_[i + 1] == '.' || pattern_[i + 1] == '=')) {
        return false;
      } else if (c == ']') {
        pos_ = i + 1;
        return true;
      } else {
        ++i;
      }
    }
    return false;
  }

  // An optional quantifier after an item: its least count, and whether it may repeat.
  bool Quantifier(int* min_repeats, bool* repeats) {
    if (pos_ >= pattern_.size()) return true;
    const char c = pattern_[pos_];
    if (c == '?' || c == '*' || c == '+') {
      *min_repeats = c == '+' ? 1 : 0;
      *repeats = c != '?';
      ++pos_;
    } else if (c == '{') {
      size_t i = pos_ + 1;
      const auto number = [&](long* value) {
        const size_t start = i;
        *value = 0;
        while (i < pattern_.size() && pattern_[i] >= '0' && pattern_[i] <= '9' && i - start < 6) {
          *value = *value * 10 + (pattern_[i] - '0');
          ++i;
        }
        return i > start;
      };
      long low = 0;
      long high = 0;
      if (!number(&low)) return false;
      high = low;
      if (i < pattern_.size() && pattern_[i] == ',') {
        ++i;
        if (!number(&high)) high = -1;
      }
      if (i >= pattern_.size() || pattern_[i] != '}') return false;
      pos_ = i + 1;
      *min_repeats = low >= 1 ? 1 : 0;
      *repeats = high != 1;
    } else {
      return true;
    }
    if (pos_ < pattern_.size() && (pattern_[pos_] == '?' || pattern_[pos_] == '+')) ++pos_;
    return pos_ >= pattern_.size() ||
           (pattern_[pos_] != '*' && pattern_[pos_] != '+' && pattern_[pos_] != '?' &&
            pattern_[pos_] != '{');
  }

  std::string_view pattern_;
  size_t pos_ = 0;
};

}  // namespace

RequiredLiterals ExtractRequiredLiterals(std::string_view pattern) {
  std::optional<RequiredLiterals> clauses = Extractor(pattern).Pattern();
  return clauses ? std::move(*clauses) : RequiredLiterals{};
}

std::vector<std::vector<uint32_t>> LiteralTable::Add(const RequiredLiterals& required) {
  std::vector<std::vector<uint32_t>> clauses;
  for (const LiteralClause& clause : required) {
    std::vector<uint32_t> indices;
    for (const std::string& literal : clause) indices.push_back(Add(literal));
    clauses.push_back(std::move(indices));
  }
  return clauses;
}

uint32_t LiteralTable::Add(std::string_view literal) {
  const auto found = std::find(literals_.begin(), literals_.end(), literal);
  const auto index = static_cast<uint32_t>(found - literals_.begin());
  if (found == literals_.end()) literals_.emplace_back(literal);  // after `index`: it moves them
  return index;
}

void LiteralTable::Build() {
  // Byte classes: one per byte that some literal has; when caseless, an upper-case ASCII letter
  // reads as its lower-case class.
  for (const std::string& literal : literals_) {
    for (char c : literal) {
      const auto byte = static_cast<uint8_t>(c);
      if (byte_class_[byte] == 0) byte_class_[byte] = static_cast<uint8_t>(class_count_++);
    }
  }
  if (folding_ == Folding::kCaseless) {
    for (char c = 'A'; c <= 'Z'; ++c) {
      byte_class_[static_cast<uint8_t>(c)] = byte_class_[static_cast<uint8_t>(FoldAscii(c))];
    }
  }
  // The trie, then failure links breadth first, each state's missing moves taken from its
  // failure state's (a complete DFA) and its outputs joined with the failure state's.
  std::vector<uint32_t> next(class_count_, 0);  // state x class -> state
  std::vector<std::vector<uint32_t>> outputs(1);
  std::vector<uint32_t> failure(1, 0);
  for (uint32_t id = 0; id < literals_.size(); ++id) {
    uint32_t state = 0;
    for (char c : literals_[id]) {
      const uint32_t cls = byte_class_[static_cast<uint8_t>(c)];
      if (next[state * class_count_ + cls] == 0) {
        next[state * class_count_ + cls] = static_cast<uint32_t>(outputs.size());
        next.resize(next.size() + class_count_, 0);
        outputs.emplace_back();
        failure.push_back(0);
      }
      state = next[state * class_count_ + cls];
    }
    outputs[state].push_back(id);
  }
  std::vector<uint32_t> queue;
  std::vector<uint8_t> in_trie(next.size(), 0);
  for (size_t i = 0; i < next.size(); ++i) in_trie[i] = next[i] != 0;
  for (uint32_t cls = 1; cls < class_count_; ++cls) {
    if (next[cls] != 0) queue.push_back(next[cls]);
  }
  for (size_t head = 0; head < queue.size(); ++head) {
    const uint32_t state = queue[head];
    const std::vector<uint32_t>& inherited = outputs[failure[state]];
    outputs[state].insert(outputs[state].end(), inherited.begin(), inherited.end());
    for (uint32_t cls = 1; cls < class_count_; ++cls) {
      uint32_t& move = next[state * class_count_ + cls];
      const uint32_t fallback = next[failure[state] * class_count_ + cls];
      if (in_trie[state * class_count_ + cls]) {
        failure[move] = fallback;
        queue.push_back(move);
      } else {
        move = fallback;
      }
    }
  }
  // The scan's form: a move holds the target's row, so a step is one load and a mask, and a flag
  // for "literals end here", so the outputs are read only when there are some (the scan used to
  // read every state's list, a second dependent load per byte).
  moves_.resize(next.size());
  for (size_t i = 0; i < next.size(); ++i) {
    const uint32_t target = next[i];
    moves_[i] = target * class_count_ | (outputs[target].empty() ? 0 : kEmits);
  }
  output_start_.assign(1, 0);
  for (const std::vector<uint32_t>& literals : outputs) {
    output_literals_.insert(output_literals_.end(), literals.begin(), literals.end());
    output_start_.push_back(static_cast<uint32_t>(output_literals_.size()));
  }
}

LiteralTable::Lookup::Lookup(const LiteralTable& table, std::string_view subject)
    : present_(table.literals_.size(), 0) {
  if (table.literals_.empty()) return;
  const bool caseless = table.folding_ == Folding::kCaseless;
  uint32_t row = 0;
  for (size_t i = 0; i < subject.size(); ++i) {
    auto byte = static_cast<uint8_t>(subject[i]);
    if (!caseless) {
      // read as it is
    } else if (byte == 0xC5 && subject.compare(i, 2, "\xC5\xBF") == 0) {  // U+017F, long s
      byte = 's';
      i += 1;
    } else if (byte == 0xE2 && subject.compare(i, 3, "\xE2\x84\xAA") == 0) {  // U+212A KELVIN SIGN
      byte = 'k';
      i += 2;
    }
    const uint32_t move = table.moves_[row + table.byte_class_[byte]];
    row = move & ~kEmits;
    if ((move & kEmits) == 0) continue;
    const uint32_t state = row / table.class_count_;
    for (uint32_t out = table.output_start_[state]; out < table.output_start_[state + 1]; ++out) {
      present_[table.output_literals_[out]] = 1;
    }
  }
}

bool LiteralTable::Lookup::Holds(const std::vector<std::vector<uint32_t>>& clauses) const {
  for (const std::vector<uint32_t>& clause : clauses) {
    bool any = false;
    for (uint32_t literal : clause) {
      if (present_[literal] != 0) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

}  // namespace internal
}  // namespace quantclaw
