// The proto3 JSON mapping, read with Boost.JSON and written through protobuf reflection: several times
// faster than protobuf's own JSON parser (which converts through an intermediate binary stream), and its
// errors name the offending field by JSON pointer.
#ifndef QUANTCLAW_PLUGIN_MESSAGES_JSON_MAPPING_H_
#define QUANTCLAW_PLUGIN_MESSAGES_JSON_MAPPING_H_

#include <boost/json/value.hpp>

#include "absl/status/status.h"

namespace google::protobuf {
class Message;
class Value;
}

namespace quantclaw {

// Fills `message` from `json` per the proto3 JSON mapping: field names in lowerCamelCase or as
// written in the .proto; 64-bit integers as numbers or strings; enums by name or number; null as
// the default; google.protobuf.Value, Struct and ListValue as any JSON. Unknown fields are errors.
// Supports the field types quantclaw's messages use (no maps, bytes or other well-known types).
absl::Status JsonToMessage(const boost::json::value& json, google::protobuf::Message* message);

// Any JSON as a google.protobuf.Value, and back. Back, a whole number within 2^53 becomes a JSON
// integer again, since a Value holds every number as a double and servers reject "max_tokens": 1.0E3.
void JsonToValue(const boost::json::value& json, google::protobuf::Value* value);
boost::json::value ValueToJson(const google::protobuf::Value& value);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_MESSAGES_JSON_MAPPING_H_
