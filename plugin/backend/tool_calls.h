// Checks a tool call a tier produced against the tools the request offered: the name is one of them, the
// arguments parse as a JSON object and match the tool's JSON schema. A low tier's broken tool call is
// what quantclaw escalates on, before the host sees it.
#ifndef QUANTCLAW_PLUGIN_BACKEND_TOOL_CALLS_H_
#define QUANTCLAW_PLUGIN_BACKEND_TOOL_CALLS_H_

#include <optional>
#include <string>

#include <boost/json/value.hpp>

namespace quantclaw {

// The first problem with the response's tool calls, or nothing when they are valid (or there are none).
// `request_body` is the OpenAI request (its "tools"); `response` a chat.completion.
// The schema check covers what tool schemas use in practice: "type" (one or a list), "required",
// "properties" (recursively), "enum", "items", "additionalProperties": false. Other keywords are not
// checked, so a call they would reject passes.
std::optional<std::string> ToolCallProblem(const boost::json::object& request_body, const boost::json::value& response);

// The same for one value against one schema; `where` names it in the problem ("arguments/city").
std::optional<std::string> SchemaProblem(const boost::json::value& value, const boost::json::value& schema,
                                         const std::string& where, int depth = 0);

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_BACKEND_TOOL_CALLS_H_
