#include "backend/completion.h"

#include <charconv>
#include <limits>

#include <boost/json.hpp>

#include "backend/chunk_reader.h"
#include "messages/json_mapping.h"
#include "messages/messages.h"
#include "quantclaw/v1/step.pb.h"
#include "util/json_numbers.h"
#include "util/strings.h"

namespace quantclaw {
namespace {

namespace json = boost::json;

uint64_t Count(const json::value* value) {
  if (value == nullptr) return 0;
  if (value->is_uint64()) return value->get_uint64();
  if (value->is_int64() && value->get_int64() > 0) return static_cast<uint64_t>(value->get_int64());
  // A double outside uint64's range would be undefined behaviour to cast.
  if (value->is_double() && value->get_double() > 0 && value->get_double() < 1.8e19) {
    return static_cast<uint64_t>(value->get_double());
  }
  return 0;
}

// A number as a whole int64, when it is one; anything else leaves `out` as it was.
void ReadWholeNumber(const json::value& value, int64_t* out) {
  if (value.is_int64()) {
    *out = value.get_int64();
  } else if (value.is_uint64() && value.get_uint64() <= uint64_t(std::numeric_limits<int64_t>::max())) {
    *out = static_cast<int64_t>(value.get_uint64());
  } else if (value.is_double()) {
    quantclaw::WholeNumber(value.get_double(), out);
  }
}

std::string_view Text(const json::value* value) {
  return value != nullptr && value->is_string() ? std::string_view(value->get_string()) : std::string_view();
}




}  // namespace

Usage ReadUsage(const json::value& response) {
  Usage usage;
  const json::object* object = response.if_object();
  const json::value* usage_value = object ? object->if_contains("usage") : nullptr;
  const json::object* fields = usage_value ? usage_value->if_object() : nullptr;
  if (fields == nullptr) return usage;
  usage.prompt_tokens = Count(fields->if_contains("prompt_tokens"));
  usage.completion_tokens = Count(fields->if_contains("completion_tokens"));
  if (const json::value* details = fields->if_contains("prompt_tokens_details"); details && details->is_object()) {
    usage.cached_tokens = Count(details->get_object().if_contains("cached_tokens"));
  }
  // llama-server reports prompt cache hits in its own timings.
  if (usage.cached_tokens == 0) {
    if (const json::value* timings = object->if_contains("timings"); timings && timings->is_object()) {
      usage.cached_tokens = Count(timings->get_object().if_contains("cache_n"));
    }
  }
  return usage;
}

absl::Status StreamAggregator::Add(std::string_view event) {
  if (read_plain_events_fast_ && reader_.Read(event)) {
    AddPlain(reader_.fields());
    return absl::OkStatus();
  }
  // Each event is parsed into a stack buffer: a stream of hundreds of small events then costs no heap
  // allocation for parsing (what is kept is copied out into the aggregate).
  unsigned char scratch[4096];
  json::monotonic_resource resource(scratch, sizeof(scratch));
  parser_.reset(&resource);
  boost::system::error_code ec;
  parser_.write(event.data(), event.size(), ec);
  json::value chunk = ec ? json::value() : parser_.release();
  const json::object* object = ec ? nullptr : chunk.if_object();
  if (object == nullptr) {
    return absl::DataLossError(StrCat("stream event ", events_, " is not a JSON object: ",
                                      Utf8Excerpt(event, 120)));
  }
  if (const json::value* error = object->if_contains("error"); error != nullptr && !error->is_null()) {
    return ServerError(*error);
  }
  ++events_;
  last_had_tool_calls_ = false;
  if (id_.empty()) id_ = Text(object->if_contains("id"));
  if (model_.empty()) model_ = Text(object->if_contains("model"));
  if (const json::value* created = object->if_contains("created"); created != nullptr) {
    ReadWholeNumber(*created, &created_);
  }

  if (const json::value* usage = object->if_contains("usage"); usage && usage->is_object()) {
    usage_ = ReadUsage(chunk);
    have_usage_ = true;
  }
  const json::value* choices = object->if_contains("choices");
  if (choices == nullptr || !choices->is_array() || choices->get_array().empty()) return absl::OkStatus();
  const json::object* choice = choices->get_array()[0].if_object();
  if (choice == nullptr) return absl::OkStatus();
  if (std::string_view reason = Text(choice->if_contains("finish_reason")); !reason.empty()) finish_reason_ = reason;
  if (!chat_) {
    content_.append(Text(choice->if_contains("text")));
  } else if (const json::value* delta_value = choice->if_contains("delta"); delta_value && delta_value->is_object()) {
    const json::object& delta = delta_value->get_object();
    if (std::string_view role = Text(delta.if_contains("role")); !role.empty()) role_ = role;
    content_.append(Text(delta.if_contains("content")));
    reasoning_content_.append(Text(delta.if_contains("reasoning_content")));
    reasoning_.append(Text(delta.if_contains("reasoning")));
    if (const json::value* calls = delta.if_contains("tool_calls"); calls && calls->is_array()) {
      last_had_tool_calls_ = !calls->get_array().empty();
      for (const json::value& call_value : calls->get_array()) {
        const json::object* call = call_value.if_object();
        if (call == nullptr) continue;
        int64_t index = 0;
        if (const json::value* i = call->if_contains("index"); i && i->is_number() && !ExactInt64(*i, &index)) {
          return absl::DataLossError(StrCat("stream event ", events_, ": a tool call's index is not a whole number: ",
                                            Utf8Excerpt(json::serialize(*i), 40)));
        }
        ToolCall& merged = tool_calls_[index];
        if (std::string_view id = Text(call->if_contains("id")); !id.empty()) merged.id = id;
        if (std::string_view type = Text(call->if_contains("type")); !type.empty()) merged.type = type;
        if (const json::value* function = call->if_contains("function"); function && function->is_object()) {
          merged.name.append(Text(function->get_object().if_contains("name")));
          merged.arguments.append(Text(function->get_object().if_contains("arguments")));
        }
      }
    }
  }
  // Logprobs in both shapes servers use: chat ({"content": [...]}) and legacy completions
  // ({"tokens": [...], "token_logprobs": [...], "top_logprobs": [...]}).
  if (const json::value* logprobs = choice->if_contains("logprobs"); logprobs && logprobs->is_object()) {
    const json::object& fields = logprobs->get_object();
    if (const json::value* content = fields.if_contains("content"); content && content->is_array()) {
      for (const json::value& item : content->get_array()) logprobs_.push_back(item);
      have_logprobs_ = true;
    }
    for (std::string_view key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) {
      if (const json::value* items = fields.if_contains(key); items && items->is_array()) {
        json::value& into = completion_logprobs_[key];
        if (!into.is_array()) into = json::array();
        for (const json::value& item : items->get_array()) into.get_array().push_back(item);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status StreamAggregator::ServerError(const json::value& error) {
  server_error_ = true;
  std::string what;
  if (const json::object* fields = error.if_object(); fields != nullptr) {
    what = Text(fields->if_contains("message"));
    if (std::string_view type = Text(fields->if_contains("type")); !type.empty()) StrAppend(&what, " (", type, ")");
    if (const json::value* code = fields->if_contains("code"); code != nullptr) {
      ReadWholeNumber(*code, &server_error_code_);
      // Some servers send the code as a string ("400").
      if (code->is_string()) {
        std::string_view digits = code->get_string();
        std::from_chars(digits.data(), digits.data() + digits.size(), server_error_code_);
      }
    }
  } else if (error.is_string()) {
    what = error.get_string();
  }
  if (what.empty()) what = json::serialize(error);
  if (what.size() > 300) what.resize(300);
  if (server_error_code_ != 0) StrAppend(&what, ", code ", server_error_code_);
  return absl::DataLossError(StrCat("the server reported an error after ", events_, " events: ", what));
}

void StreamAggregator::AddPlain(const ChunkFields& fields) {
  ++events_;
  last_had_tool_calls_ = false;
  if (id_.empty()) id_ = fields.id;
  if (model_.empty()) model_ = fields.model;
  if (fields.has_created) created_ = fields.created;
  if (!fields.has_choice) return;
  if (!fields.finish_reason.empty()) finish_reason_ = fields.finish_reason;
  if (!chat_) {
    content_.append(fields.text);
  } else if (fields.has_delta) {
    if (!fields.role.empty()) role_ = fields.role;
    content_.append(fields.content);
    reasoning_content_.append(fields.reasoning_content);
    reasoning_.append(fields.reasoning);
  }
}

std::string StreamAggregator::Finish() const { return json::serialize(Response()); }

json::value StreamAggregator::Response() const {
  json::object response;
  response["id"] = id_;
  response["object"] = chat_ ? "chat.completion" : "text_completion";
  response["created"] = created_;
  response["model"] = model_;
  json::object choice;
  choice["index"] = 0;
  if (chat_) {
    json::object message;
    message["role"] = role_;
    message["content"] = content_.empty() && !tool_calls_.empty() ? json::value(nullptr) : json::value(content_);
    // Under the name(s) the server streamed, as its own non-streamed message would have them.
    if (!reasoning_content_.empty()) message["reasoning_content"] = reasoning_content_;
    if (!reasoning_.empty()) message["reasoning"] = reasoning_;
    if (!tool_calls_.empty()) {
      json::array calls;
      for (const auto& [index, call] : tool_calls_) {
        calls.push_back(json::object{{"id", call.id},
                                     {"type", call.type},
                                     {"function", json::object{{"name", call.name}, {"arguments", call.arguments}}}});
      }
      message["tool_calls"] = std::move(calls);
    }
    choice["message"] = std::move(message);
    if (have_logprobs_) choice["logprobs"] = json::object{{"content", logprobs_}};
  } else {
    choice["text"] = content_;
    // llama-server streams /v1/completions logprobs in the chat shape; keep whichever shape came.
    json::object logprobs = completion_logprobs_;
    if (have_logprobs_) logprobs["content"] = logprobs_;
    if (!logprobs.empty()) choice["logprobs"] = std::move(logprobs);
  }
  choice["finish_reason"] = finish_reason_.empty() ? json::value(nullptr) : json::value(finish_reason_);
  response["choices"] = json::array{std::move(choice)};
  if (have_usage_) {
    json::object usage{{"prompt_tokens", usage_.prompt_tokens},
                       {"completion_tokens", usage_.completion_tokens},
                       {"total_tokens", usage_.prompt_tokens + usage_.completion_tokens}};
    if (usage_.cached_tokens > 0) usage["prompt_tokens_details"] = json::object{{"cached_tokens", usage_.cached_tokens}};
    response["usage"] = std::move(usage);
  }
  return response;
}

}  // namespace quantclaw
