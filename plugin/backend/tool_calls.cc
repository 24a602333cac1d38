#include "backend/tool_calls.h"

#include <cmath>

#include <boost/json.hpp>

#include "util/strings.h"
#include "util/utf8.h"
#include "util/validator.h"

namespace quantclaw {
namespace {

namespace json = boost::json;

bool HasType(const json::value& value, std::string_view type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "boolean") return value.is_bool();
  if (type == "null") return value.is_null();
  if (type == "number") return value.is_number();
  if (type == "integer") {
    if (value.is_int64() || value.is_uint64()) return true;
    // Any whole number, as JSON Schema has it: a double past int64's range is one too (and converting
    // it to int64 to find out would be undefined behaviour).
    return value.is_double() && std::isfinite(value.get_double()) && std::trunc(value.get_double()) == value.get_double();
  }
  return true;  // an unknown type name constrains nothing
}

}  // namespace

std::optional<std::string> SchemaProblem(const json::value& value, const json::value& schema, const std::string& where,
                                         int depth) {
  const json::object* rules = schema.if_object();
  if (rules == nullptr || depth > 32) return std::nullopt;
  if (const json::value* type = rules->if_contains("type")) {
    bool matches = false;
    std::string wanted;
    if (type->is_string()) {
      matches = HasType(value, type->get_string());
      wanted = type->get_string();
    } else if (type->is_array()) {
      for (const json::value& one : type->get_array()) {
        if (!one.is_string()) continue;
        matches |= HasType(value, one.get_string());
        wanted += (wanted.empty() ? "" : " or ") + std::string(one.get_string());
      }
    } else {
      matches = true;
    }
    if (!matches) return StrCat(where, ": expected ", wanted, ", got ", JsonKindName(value));
  }
  if (const json::value* allowed = rules->if_contains("enum"); allowed && allowed->is_array()) {
    bool found = false;
    for (const json::value& option : allowed->get_array()) found |= option == value;
    if (!found) return StrCat(where, ": ", json::serialize(value), " is not one of ", json::serialize(*allowed));
  }
  if (const json::object* object = value.if_object()) {
    const json::object* properties = nullptr;
    if (const json::value* p = rules->if_contains("properties")) properties = p->if_object();
    if (const json::value* required = rules->if_contains("required"); required && required->is_array()) {
      for (const json::value& name : required->get_array()) {
        if (name.is_string() && !object->contains(name.get_string())) {
          return StrCat(where, ": required \"", std::string_view(name.get_string()), "\" is missing");
        }
      }
    }
    const json::value* additional = rules->if_contains("additionalProperties");
    for (const auto& [key, item] : *object) {
      const json::value* property = properties ? properties->if_contains(key) : nullptr;
      if (property != nullptr) {
        if (auto problem = SchemaProblem(item, *property, StrCat(where, "/", std::string_view(key)), depth + 1)) {
          return problem;
        }
      } else if (additional != nullptr && additional->is_bool() && !additional->get_bool()) {
        return StrCat(where, ": unexpected \"", std::string_view(key), "\"");
      }
    }
  }
  if (const json::array* array = value.if_array()) {
    if (const json::value* items = rules->if_contains("items")) {
      for (size_t i = 0; i < array->size(); ++i) {
        if (auto problem = SchemaProblem((*array)[i], *items, StrCat(where, "/", i), depth + 1)) return problem;
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> ToolCallProblem(const json::object& request_body, const json::value& response) {
  const json::value* calls = nullptr;
  if (const json::object* root = response.if_object()) {
    if (const json::value* choices = root->if_contains("choices"); choices && choices->is_array() &&
                                                                   !choices->get_array().empty()) {
      if (const json::object* choice = choices->get_array()[0].if_object()) {
        if (const json::value* message = choice->if_contains("message"); message && message->is_object()) {
          calls = message->get_object().if_contains("tool_calls");
        }
      }
    }
  }
  if (calls == nullptr || !calls->is_array()) return std::nullopt;
  const json::array* tools = nullptr;
  if (const json::value* t = request_body.if_contains("tools")) tools = t->if_array();
  for (const json::value& call_value : calls->get_array()) {
    const json::object* call = call_value.if_object();
    const json::object* function = nullptr;
    if (call != nullptr) {
      if (const json::value* f = call->if_contains("function")) function = f->if_object();
    }
    if (function == nullptr) return std::string("a tool call without a function");
    std::string_view name;
    if (const json::value* n = function->if_contains("name"); n && n->is_string()) name = n->get_string();
    std::string_view arguments_text;
    if (const json::value* a = function->if_contains("arguments"); a && a->is_string()) arguments_text = a->get_string();
    boost::system::error_code ec;
    json::value arguments = json::parse(json::string_view(arguments_text.data(), arguments_text.size()), ec);
    if (ec || !arguments.is_object()) {
      return StrCat("tool call ", name, ": arguments are not a JSON object: ", CutAtUtf8Boundary(arguments_text, 80));
    }
    if (tools == nullptr) continue;
    const json::value* schema = nullptr;
    bool offered = false;
    for (const json::value& tool : *tools) {
      const json::object* spec = tool.if_object();
      const json::value* spec_function = spec ? spec->if_contains("function") : nullptr;
      if (spec_function == nullptr || !spec_function->is_object()) continue;
      const json::value* spec_name = spec_function->get_object().if_contains("name");
      if (spec_name && spec_name->is_string() && spec_name->get_string() == name) {
        offered = true;
        schema = spec_function->get_object().if_contains("parameters");
      }
    }
    if (!offered) return StrCat("tool call ", name, ": no tool of that name was offered");
    if (schema != nullptr) {
      if (auto problem = SchemaProblem(arguments, *schema, StrCat("tool call ", name, " arguments"))) return problem;
    }
  }
  return std::nullopt;
}

}  // namespace quantclaw
