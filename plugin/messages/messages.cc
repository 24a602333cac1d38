#include "messages/messages.h"

#include "messages/json_mapping.h"

#include <boost/json.hpp>
#include <mutex>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/message.h>

#include "util/strings.h"
#include "util/utf8.h"

namespace quantclaw {
namespace {

// protobuf reports some parse failures (invalid UTF-8 in a string field) by logging to stderr, which
// is the host's. While this thread decodes a message, its log lines are kept for the error message
// instead; every other line goes to the handler that was there before.
thread_local bool t_decoding = false;
thread_local std::string t_decode_log;
google::protobuf::LogHandler* g_previous_log_handler = nullptr;

void CaptureDecodeLog(google::protobuf::LogLevel level, const char* filename, int line, const std::string& message) {
  if (t_decoding) {
    if (t_decode_log.empty()) t_decode_log = message;
    return;
  }
  if (g_previous_log_handler != nullptr) g_previous_log_handler(level, filename, line, message);
}

class DecodeScope {
 public:
  DecodeScope() {
    static std::once_flag installed;
    std::call_once(installed, [] { g_previous_log_handler = google::protobuf::SetLogHandler(&CaptureDecodeLog); });
    t_decoding = true;
    t_decode_log.clear();
  }
  ~DecodeScope() { t_decoding = false; }
  const std::string& log() const { return t_decode_log; }
};

// Reads a base-128 varint; false on truncation or more than 10 bytes.
bool ReadVarint(std::string_view bytes, size_t* position, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 64 && *position < bytes.size(); shift += 7) {
    uint8_t byte = static_cast<uint8_t>(bytes[(*position)++]);
    *value |= uint64_t(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

absl::Status DecodeMessage(std::string_view bytes, WireFormat format, google::protobuf::Message* message) {
  const std::string& type = message->GetDescriptor()->full_name();
  if (format == WireFormat::kProtobuf) {
    DecodeScope scope;
    google::protobuf::io::CodedInputStream stream(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                  static_cast<int>(bytes.size()));
    if (!message->ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage()) {
      return absl::InvalidArgumentError(StrCat("bytes do not decode as a protobuf ", type, " (", bytes.size(),
                                               " bytes)", scope.log().empty() ? "" : ": ", scope.log()));
    }
    return absl::OkStatus();
  }
  boost::json::parse_options options;
  options.max_depth = 64;
  boost::system::error_code ec;
  boost::json::stream_parser parser(boost::json::storage_ptr(), options);
  size_t consumed = parser.write_some(bytes.data(), bytes.size(), ec);
  if (!ec && consumed != bytes.size()) ec = boost::json::error::extra_data;
  if (!ec) parser.finish(ec);
  if (ec) {
    return absl::InvalidArgumentError(
        StrCat("JSON does not decode as ", type, ": invalid JSON at byte ", consumed, ": ", ec.message()));
  }
  boost::json::value document = parser.release();
  if (absl::Status status = JsonToMessage(document, message); !status.ok()) {
    return absl::InvalidArgumentError(StrCat("JSON does not decode as ", type, ": ", FromAbsl(status.message())));
  }
  return absl::OkStatus();
}

absl::Status DecodeDecisionRequest(std::string_view bytes, WireFormat format, std::string* scratch,
                                   std::string_view* session_id) {
  *session_id = {};
  if (format == WireFormat::kProtobuf) {
    size_t position = 0;
    while (position < bytes.size()) {
      uint64_t tag;
      if (!ReadVarint(bytes, &position, &tag) || (tag >> 3) == 0) {
        return absl::InvalidArgumentError("bytes do not decode as a protobuf quantclaw.v1.DecisionRequest: bad tag");
      }
      uint64_t length = 0;
      if ((tag >> 3) == 1 && (tag & 7) != 2) {
        return absl::InvalidArgumentError(
            "bytes do not decode as a protobuf quantclaw.v1.DecisionRequest: session_id (field 1) is not "
            "length-delimited");
      }
      switch (tag & 7) {
        case 0:  // varint
          if (!ReadVarint(bytes, &position, &length)) break;
          continue;
        case 1:  // 64-bit
          if (bytes.size() - position < 8) break;
          position += 8;
          continue;
        case 5:  // 32-bit
          if (bytes.size() - position < 4) break;
          position += 4;
          continue;
        case 2:  // length-delimited
          if (!ReadVarint(bytes, &position, &length) || length > bytes.size() - position) break;
          if ((tag >> 3) == 1) *session_id = bytes.substr(position, length);
          position += length;
          continue;
        default:
          break;
      }
      return absl::InvalidArgumentError(
          "bytes do not decode as a protobuf quantclaw.v1.DecisionRequest: truncated or bad wire type");
    }
    if (!IsValidUtf8(*session_id)) {
      return absl::InvalidArgumentError("DecisionRequest.session_id is not valid UTF-8");
    }
    return absl::OkStatus();
  }
  // JSON: parsed into a stack buffer, so a request of ordinary size allocates nothing.
  unsigned char buffer[1024];
  boost::json::monotonic_resource resource(buffer, sizeof(buffer));
  boost::json::parse_options options;
  options.max_depth = 8;
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(boost::json::string_view(bytes.data(), bytes.size()), ec,
                                                &resource, options);
  if (ec) {
    return absl::InvalidArgumentError(StrCat("JSON does not decode as quantclaw.v1.DecisionRequest: ",
                                                   ec.message()));
  }
  const boost::json::object* object = value.if_object();
  if (object == nullptr) {
    return absl::InvalidArgumentError("JSON does not decode as quantclaw.v1.DecisionRequest: not an object");
  }
  for (const auto& [key, item] : *object) {
    if (key != "session_id" && key != "sessionId") {
      return absl::InvalidArgumentError(StrCat(
          "JSON does not decode as quantclaw.v1.DecisionRequest: unknown field \"", std::string_view(key), "\""));
    }
    if (item.is_null()) continue;  // proto3 JSON: null is the default value
    const boost::json::string* text = item.if_string();
    if (text == nullptr) {
      return absl::InvalidArgumentError("DecisionRequest.session_id must be a string");
    }
    scratch->assign(text->data(), text->size());  // reuses the caller's capacity
    *session_id = *scratch;
  }
  return absl::OkStatus();
}

}  // namespace quantclaw
