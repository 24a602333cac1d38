// Fuzz target for the tool-call check (backend/tool_calls.h): an arbitrary request body and response
// document. The input is the request's JSON, a NUL byte, then the response's JSON; a response that is not
// a JSON object with "choices" becomes, as text, the arguments of a call to the first tool the request
// offers, so that mutations reach the arguments parser and the schema check directly. The property: no crash, the same answer twice, and a
// problem is a non-empty message in valid UTF-8 (it ends up in qc_last_error and in logs).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "backend/tool_calls.h"
#include "util/utf8.h"

namespace {

namespace json = boost::json;

json::value Parse(std::string_view text, unsigned max_depth) {
  json::parse_options options;
  options.max_depth = max_depth;
  boost::system::error_code ec;
  json::value value = json::parse(json::string_view(text.data(), text.size()), ec, json::storage_ptr(), options);
  return ec ? json::value(nullptr) : value;
}

// The response a tier would give calling the request's first tool with `arguments`.
json::value CallFirstTool(const json::object& request, std::string_view arguments) {
  json::string name = "f";
  if (const json::value* tools = request.if_contains("tools"); tools && tools->is_array() && !tools->get_array().empty()) {
    if (const json::object* tool = tools->get_array()[0].if_object()) {
      if (const json::value* function = tool->if_contains("function"); function && function->is_object()) {
        if (const json::value* n = function->get_object().if_contains("name"); n && n->is_string()) name = n->get_string();
      }
    }
  }
  // A response's strings are valid UTF-8 (the parser checks), so the arguments are made so too.
  std::string storage;
  const std::string_view valid = quantclaw::ReplaceInvalidUtf8(arguments, &storage);
  return json::value{{"choices", json::array{json::object{
                                     {"message", json::object{{"role", "assistant"},
                                                              {"tool_calls", json::array{json::object{
                                                                                 {"id", "call_0"},
                                                                                 {"type", "function"},
                                                                                 {"function", json::object{
                                                                                                  {"name", name},
                                                                                                  {"arguments", json::string(valid.data(), valid.size())}}}}}}}}}}}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  const std::string_view request_text = input.substr(0, split);
  const std::string_view response_text = split == std::string_view::npos ? std::string_view() : input.substr(split + 1);

  // Depths as the library parses them: request bodies 64 (messages/completion_request.cc), responses 32.
  const json::value request_value = Parse(request_text, 64);
  static const json::object kEmpty;
  const json::object& request = request_value.is_object() ? request_value.get_object() : kEmpty;
  json::value response = Parse(response_text, 32);
  if (!response.is_object() || !response.get_object().contains("choices")) {
    response = CallFirstTool(request, response_text);
  }

  const std::optional<std::string> problem = quantclaw::ToolCallProblem(request, response);
  if (problem != quantclaw::ToolCallProblem(request, response)) {
    std::fprintf(stderr, "two answers for one input\n");
    std::abort();
  }
  if (problem && (problem->empty() || !quantclaw::IsValidUtf8(*problem))) {
    std::fprintf(stderr, "a problem that is empty or not UTF-8: [%s]\n", problem->c_str());
    std::abort();
  }
  return 0;
}
