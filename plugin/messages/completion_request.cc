#include "messages/completion_request.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

#include <boost/json.hpp>

#include "messages/json_mapping.h"
#include "messages/messages.h"
#include "quantclaw/v1/step.pb.h"
#include "util/strings.h"

namespace quantclaw {
namespace {

namespace json = boost::json;

std::string_view Text(const json::value* value) {
  return value != nullptr && value->is_string() ? std::string_view(value->get_string()) : std::string_view();
}

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(StrCat("request does not decode as quantclaw.v1.CompleteRequest: ", what));
}

absl::Status ReadEndpoint(std::string_view endpoint, bool* chat) {
  if (endpoint.empty() || endpoint == "chat") {
    *chat = true;
  } else if (endpoint == "completions") {
    *chat = false;
  } else {
    return Malformed(StrCat("/endpoint: \"", endpoint, "\" is neither \"chat\" nor \"completions\""));
  }
  return absl::OkStatus();
}

constexpr std::string_view kTokenLimitKeys[] = {"max_tokens", "max_completion_tokens"};

// A token limit as a count: a whole number from 0 to 2^32-1, whether JSON wrote it as an integer or
// as a double (16.0); nothing else (1.5, -1, 1e30, 2^64-1, a string) is a count.
std::optional<uint32_t> TokenCount(const json::value& value) {
  constexpr uint32_t kMax = std::numeric_limits<uint32_t>::max();
  if (const int64_t* integer = value.if_int64()) {
    if (*integer >= 0 && *integer <= kMax) return static_cast<uint32_t>(*integer);
  } else if (const uint64_t* unsigned_integer = value.if_uint64()) {
    if (*unsigned_integer <= kMax) return static_cast<uint32_t>(*unsigned_integer);
  } else if (const double* real = value.if_double()) {
    if (std::isfinite(*real) && *real >= 0 && *real <= kMax && std::floor(*real) == *real) {
      return static_cast<uint32_t>(*real);
    }
  }
  return std::nullopt;
}

void CopyHints(const v1::StepHints& hints, CompletionCall* call) {
  call->step_kind = hints.step_kind();
  call->task_type = hints.task_type();
  call->force_tier = hints.force_tier();
}

}  // namespace

absl::Status DecodeCompletionCall(std::string_view bytes, bool json_format, CompletionCall* call) {
  if (!json_format) {
    v1::CompleteRequest request;
    if (absl::Status status = DecodeMessage(bytes, WireFormat::kProtobuf, &request); !status.ok()) return status;
    call->session_id = request.session_id();
    for (const auto& [key, value] : request.body().fields()) call->body[key] = ValueToJson(value);
    CopyHints(request.hints(), call);
    return ReadEndpoint(request.endpoint(), &call->chat);
  }
  // JSON: the body stays as the host wrote it (integers as integers), so it is read here rather than
  // through google.protobuf.Struct.
  json::parse_options options;
  options.max_depth = 64;
  boost::system::error_code ec;
  json::value document = json::parse(json::string_view(bytes.data(), bytes.size()), ec, {}, options);
  if (ec) return Malformed(StrCat("invalid JSON: ", ec.message()));
  const json::object* object = document.if_object();
  if (object == nullptr) return Malformed("(root): expected an object");
  for (const auto& [key, value] : *object) {
    std::string_view name = key;
    if (name == "session_id" || name == "sessionId") {
      if (!value.is_string()) return Malformed("/session_id: expected a string");
      call->session_id = value.get_string();
    } else if (name == "body") {
      if (!value.is_object()) return Malformed("/body: expected the OpenAI request object");
      call->body = value.get_object();
    } else if (name == "endpoint") {
      if (!value.is_string()) return Malformed("/endpoint: expected a string");
      if (absl::Status status = ReadEndpoint(std::string_view(value.get_string()), &call->chat); !status.ok()) {
        return status;
      }
    } else if (name == "hints") {
      v1::StepHints hints;
      if (absl::Status status = JsonToMessage(value, &hints); !status.ok()) {
        std::string_view message = FromAbsl(status.message());
        return Malformed(message.rfind("/", 0) == 0 ? StrCat("/hints", message) : StrCat("/hints: ", message));
      }
      CopyHints(hints, call);
    } else {
      return Malformed(StrCat("/", name, ": unknown field"));
    }
  }
  if (call->body.empty()) return Malformed("/body: the OpenAI request is missing");
  return absl::OkStatus();
}

void StepFromRequest(const CompletionCall& call, size_t messages_seen, v1::Step* step) {
  step->set_session_id(call.session_id);
  step->mutable_hints()->set_step_kind(call.step_kind);
  step->mutable_hints()->set_task_type(call.task_type);
  step->mutable_hints()->set_force_tier(call.force_tier);
  if (!call.chat) {
    // A legacy completion carries its whole prompt each time: it is the step's new text.
    v1::ChatMessage* message = step->add_messages();
    message->set_role("user");
    if (const json::value* prompt = call.body.if_contains("prompt")) JsonToValue(*prompt, message->mutable_content());
  } else if (const json::value* messages = call.body.if_contains("messages"); messages && messages->is_array()) {
    const json::array& all = messages->get_array();
    // Fewer messages than already seen: the host rewrote the context (compaction); all of it is new.
    size_t first = messages_seen <= all.size() ? messages_seen : 0;
    for (size_t i = first; i < all.size(); ++i) {
      const json::object* in = all[i].if_object();
      if (in == nullptr) continue;
      v1::ChatMessage* out = step->add_messages();
      out->set_role(std::string(Text(in->if_contains("role"))));
      if (const json::value* content = in->if_contains("content")) JsonToValue(*content, out->mutable_content());
      out->set_name(std::string(Text(in->if_contains("name"))));
      out->set_tool_call_id(std::string(Text(in->if_contains("tool_call_id"))));
      if (const json::value* calls = in->if_contains("tool_calls"); calls && calls->is_array()) {
        for (const json::value& call_value : calls->get_array()) {
          const json::object* tool_call = call_value.if_object();
          if (tool_call == nullptr) continue;
          v1::ToolCall* added = out->add_tool_calls();
          added->set_id(std::string(Text(tool_call->if_contains("id"))));
          added->set_type(std::string(Text(tool_call->if_contains("type"))));
          if (const json::value* function = tool_call->if_contains("function"); function && function->is_object()) {
            const json::object& fields = function->get_object();
            added->mutable_function()->set_name(std::string(Text(fields.if_contains("name"))));
            const json::value* arguments = fields.if_contains("arguments");
            added->mutable_function()->set_arguments(
                arguments == nullptr ? std::string()
                                     : arguments->is_string() ? std::string(arguments->get_string()) : json::serialize(*arguments));
          }
        }
      }
    }
  }
  v1::StepRequest* request = step->mutable_request();
  if (const json::value* tools = call.body.if_contains("tools"); tools && tools->is_array()) {
    for (const json::value& tool : tools->get_array()) {
      v1::ToolSpec* spec = request->add_tools();
      if (const json::object* fields = tool.if_object()) {
        spec->set_type(std::string(Text(fields->if_contains("type"))));
        if (const json::value* function = fields->if_contains("function"); function && function->is_object()) {
          spec->mutable_function()->set_name(std::string(Text(function->get_object().if_contains("name"))));
        }
      }
    }
  }
  for (std::string_view key : kTokenLimitKeys) {
    if (const json::value* limit = call.body.if_contains(key); limit && !limit->is_null()) {
      if (std::optional<uint32_t> count = TokenCount(*limit)) request->set_max_tokens(*count);
    }
  }
  if (const json::value* format = call.body.if_contains("response_format"); format && format->is_object()) {
    request->mutable_response_format()->set_type(std::string(Text(format->get_object().if_contains("type"))));
  }
}

absl::Status CheckCompletionCall(const CompletionCall& call) {
  for (std::string_view key : kTokenLimitKeys) {
    const json::value* limit = call.body.if_contains(key);
    if (limit == nullptr || limit->is_null() || TokenCount(*limit).has_value()) continue;
    std::string shown = json::serialize(*limit);
    if (shown.size() > 64) shown.replace(60, std::string::npos, "...");
    return absl::InvalidArgumentError(
        StrCat("/body/", key, ": ", shown, " is not a token count (a whole number from 0 to 4294967295)"));
  }
  return absl::OkStatus();
}

}  // namespace quantclaw
