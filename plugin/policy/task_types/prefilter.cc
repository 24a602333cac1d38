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

// A recursive-descent reading of the pattern that keeps only what a match must contain. A sequence's
// clauses are its items' clauses together; an alternation's is one clause, a literal chosen from
// each alternative (if any alternative requires nothing, neither does the alternation); an item
// that may be absent (?, *, {0,...}) and negative lookaround require nothing. Positive lookaround
// requires its body in the subject, which is what is scanned.
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

void FoldForPrefilter(std::string_view subject, std::string* folded) {
  folded->clear();
  folded->reserve(subject.size());
  for (size_t i = 0; i < subject.size(); ++i) {
    const char c = subject[i];
    if (subject.compare(i, 2, "\xC5\xBF") == 0) {  // U+017F LATIN SMALL LETTER LONG S
      *folded += 's';
      ++i;
    } else if (subject.compare(i, 3, "\xE2\x84\xAA") == 0) {  // U+212A KELVIN SIGN
      *folded += 'k';
      i += 2;
    } else {
      *folded += FoldAscii(c);
    }
  }
}

std::vector<std::vector<uint32_t>> LiteralTable::Add(const RequiredLiterals& required) {
  std::vector<std::vector<uint32_t>> clauses;
  for (const LiteralClause& clause : required) {
    std::vector<uint32_t> indices;
    for (const std::string& literal : clause) {
      const auto found = std::find(literals_.begin(), literals_.end(), literal);
      indices.push_back(static_cast<uint32_t>(found - literals_.begin()));
      if (found == literals_.end()) literals_.push_back(literal);
    }
    clauses.push_back(std::move(indices));
  }
  return clauses;
}

bool LiteralTable::Lookup::Present(uint32_t literal) {
  if (state_[literal] == kUnknown) {
    state_[literal] = subject_.find(table_.literals_[literal]) != std::string_view::npos ? 1 : 0;
  }
  return state_[literal] == 1;
}

bool LiteralTable::Lookup::Holds(const std::vector<std::vector<uint32_t>>& clauses) {
  for (const std::vector<uint32_t>& clause : clauses) {
    bool any = false;
    for (uint32_t literal : clause) {
      if (Present(literal)) {
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
