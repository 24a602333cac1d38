// Decoding the messages that cross the C ABI, from protobuf binary or the canonical proto3 JSON mapping.
#ifndef QUANTCLAW_PLUGIN_MESSAGES_MESSAGES_H_
#define QUANTCLAW_PLUGIN_MESSAGES_MESSAGES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace google::protobuf {
class Message;
}

namespace quantclaw {

enum class WireFormat : uint32_t { kProtobuf = 1, kJson = 2 };  // QC_FORMAT_* values

// Decodes `message` (a Step, Outcome, ...) with protobuf's own parsers: recursion-limited, rejecting
// unknown JSON fields so a misspelt field is an error rather than silently ignored.
absl::Status DecodeMessage(std::string_view bytes, WireFormat format, google::protobuf::Message* message);

// Decodes a quantclaw.v1.DecisionRequest without allocating: it is on every step's hot path.
// *session_id points into `bytes` (binary) or into `scratch` (JSON, which may need unescaping).
absl::Status DecodeDecisionRequest(std::string_view bytes, WireFormat format, std::string* scratch,
                                   std::string_view* session_id);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_MESSAGES_MESSAGES_H_
