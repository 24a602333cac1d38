// A problem found in a host config: where (a JSON pointer, RFC 6901) and why.
#ifndef QUANTCLAW_PLUGIN_UTIL_VALIDATOR_H_
#define QUANTCLAW_PLUGIN_UTIL_VALIDATOR_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <cstdint>
#include <initializer_list>
#include <optional>

#include <boost/json/fwd.hpp>

namespace quantclaw {

struct ConfigError {
  std::string pointer;  // e.g. "/tiers/1/base_url"; "" for the document root
  std::string reason;   // e.g. "unknown key \"bse_url\" (did you mean \"base_url\"?)"
};

using ConfigErrors = std::vector<ConfigError>;

// Appends a token to a JSON pointer, escaping '~' and '/' as RFC 6901 requires.
std::string JoinPointer(const std::string& pointer, std::string_view token);
std::string JoinPointer(const std::string& pointer, size_t index);

// What a JSON value is, for messages: "a string", "an array", "null", ...
std::string_view JsonKindName(const boost::json::value& value);

size_t EditDistance(std::string_view a, std::string_view b);

// " (did you mean \"x\"?)" when one candidate is close enough to `given` to be a likely typo, else "".
std::string DidYouMean(std::string_view given, const std::vector<std::string_view>& candidates);

// Collects problems; each accessor reports what is wrong with the value at its pointer and returns
// nothing for it, so validation carries on and reports everything in one pass. Every folder that
// parses a config section uses this one.
class Validator {
 public:
  explicit Validator(ConfigErrors* errors) : errors_(errors) {}

  void Error(const std::string& pointer, std::string reason);
  size_t error_count() const { return errors_->size(); }
  ConfigErrors* errors() const { return errors_; }

  // The object at `pointer`, every key outside `allowed_keys` reported (with a likely correction).
  const boost::json::object* AsObject(const boost::json::value& value, const std::string& pointer,
                                      std::initializer_list<std::string_view> allowed_keys);
  const boost::json::array* AsArray(const boost::json::value& value, const std::string& pointer);
  std::optional<std::string> String(const boost::json::object& object, std::string_view key,
                                    const std::string& pointer, bool required);
  std::optional<double> Number(const boost::json::object& object, std::string_view key, const std::string& pointer,
                               double min, double max, bool required);
  std::optional<uint64_t> Integer(const boost::json::object& object, std::string_view key,
                                  const std::string& pointer, uint64_t min, uint64_t max);
  // A whole number that fits the uint32_t fields most limits are.
  uint32_t Integer32(const boost::json::object& object, std::string_view key, const std::string& pointer,
                     uint32_t min, uint32_t max, uint32_t fallback);
  std::optional<bool> Bool(const boost::json::object& object, std::string_view key, const std::string& pointer);
  // A string or an array of strings.
  std::vector<std::string> StringList(const boost::json::value& value, const std::string& pointer);

 private:
  ConfigErrors* errors_;
};

// The problems as "pointer: reason" lines ("(root)" for the document itself).
std::string JoinErrors(const ConfigErrors& errors);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_UTIL_VALIDATOR_H_
