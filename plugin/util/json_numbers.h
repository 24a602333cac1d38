// Whole numbers out of JSON a server sent. Boost.JSON's to_number<int64_t>() throws for 1.5, 1e90 or
// 2^64-1, and a server's bytes must never throw out of the library (in a worker thread that is a call to
// std::terminate in the host); so every integer read from a server goes through here instead.
#ifndef QUANTCLAW_PLUGIN_UTIL_JSON_NUMBERS_H_
#define QUANTCLAW_PLUGIN_UTIL_JSON_NUMBERS_H_

#include <cstdint>

#include <boost/json/value.hpp>

namespace quantclaw {

// True, with *out set, when `value` is a number equal to an int64 (3 and 3.0 are; 3.5, 1e90 and
// 2^63 are not); false, with *out untouched, otherwise.
inline bool ExactInt64(const boost::json::value& value, int64_t* out) {
  if (!value.is_number()) return false;
  boost::system::error_code ec;
  const int64_t number = value.to_number<int64_t>(ec);
  if (ec) return false;
  *out = number;
  return true;
}

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_UTIL_JSON_NUMBERS_H_
