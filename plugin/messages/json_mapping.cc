#include "messages/json_mapping.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include <boost/json.hpp>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/struct.pb.h>

#include "util/validator.h"
#include "util/strings.h"

namespace quantclaw {
namespace {

namespace json = boost::json;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr int kMaxDepth = 64;

absl::Status Error(const std::string& pointer, std::string_view reason) {
  return absl::InvalidArgumentError(StrCat(pointer.empty() ? "(root)" : pointer, ": ", reason));
}

void FillValue(const json::value& json, google::protobuf::Value* value, int depth);

void FillStruct(const json::object& object, google::protobuf::Struct* out, int depth) {
  auto& fields = *out->mutable_fields();
  for (const auto& [key, item] : object) FillValue(item, &fields[std::string(key)], depth + 1);
}

// Any JSON fits a google.protobuf.Value; Boost.JSON's parser already bounds the depth.
void FillValue(const json::value& json, google::protobuf::Value* value, int depth) {
  switch (json.kind()) {
    case json::kind::null: value->set_null_value(google::protobuf::NULL_VALUE); break;
    case json::kind::bool_: value->set_bool_value(json.get_bool()); break;
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: value->set_number_value(json.to_number<double>()); break;
    case json::kind::string: value->set_string_value(std::string(json.get_string())); break;
    case json::kind::array:
      for (const json::value& item : json.get_array()) {
        FillValue(item, value->mutable_list_value()->add_values(), depth + 1);
      }
      if (json.get_array().empty()) value->mutable_list_value();
      break;
    case json::kind::object: FillStruct(json.get_object(), value->mutable_struct_value(), depth); break;
  }
}

// A whole number from a JSON number or a decimal string, as the mapping allows for every integer type.
bool ReadInteger(const json::value& json, bool is_signed, int64_t* signed_out, uint64_t* unsigned_out) {
  if (json.is_int64()) {
    if (!is_signed && json.get_int64() < 0) return false;
    *signed_out = json.get_int64();
    *unsigned_out = static_cast<uint64_t>(json.get_int64());
    return true;
  }
  if (json.is_uint64()) {
    if (is_signed && json.get_uint64() > uint64_t(std::numeric_limits<int64_t>::max())) return false;
    *unsigned_out = json.get_uint64();
    *signed_out = static_cast<int64_t>(json.get_uint64());
    return true;
  }
  if (json.is_double()) {
    double number = json.get_double();
    if (number != std::floor(number) || std::abs(number) > 9.007199254740992e15) return false;
    if (!is_signed && number < 0) return false;
    *signed_out = static_cast<int64_t>(number);
    *unsigned_out = static_cast<uint64_t>(number < 0 ? 0 : number);
    return true;
  }
  if (json.is_string()) {
    std::string text(json.get_string());
    if (text.empty() || text.size() > 20) return false;
    char* end = nullptr;
    errno = 0;
    if (is_signed) {
      long long parsed = std::strtoll(text.c_str(), &end, 10);
      *signed_out = parsed;
      *unsigned_out = static_cast<uint64_t>(parsed);
    } else {
      if (text[0] == '-') return false;
      unsigned long long parsed = std::strtoull(text.c_str(), &end, 10);
      *unsigned_out = parsed;
      *signed_out = static_cast<int64_t>(parsed);
    }
    return errno == 0 && end != nullptr && *end == '\0';
  }
  return false;
}

bool ReadDouble(const json::value& json, double* out) {
  if (json.is_number()) {
    *out = json.to_number<double>();
    return true;
  }
  if (json.is_string()) {
    std::string_view text = json.get_string();
    if (text == "NaN") *out = std::numeric_limits<double>::quiet_NaN();
    else if (text == "Infinity") *out = std::numeric_limits<double>::infinity();
    else if (text == "-Infinity") *out = -std::numeric_limits<double>::infinity();
    else return false;
    return true;
  }
  return false;
}

absl::Status FillMessage(const json::value& json, Message* message, const std::string& pointer, int depth);

// Sets one value of `field` (appending when repeated).
absl::Status SetField(const json::value& item, Message* message, const FieldDescriptor* field,
                      const std::string& pointer, int depth) {
  const Reflection* reflection = message->GetReflection();
  const bool repeated = field->is_repeated();
  auto expected = [&](std::string_view what) {
    return Error(pointer, StrCat("expected ", what, " for ", std::string_view(field->full_name()), ", got ",
                                 JsonKindName(item)));
  };
  int64_t signed_value = 0;
  uint64_t unsigned_value = 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      if (field->type() == FieldDescriptor::TYPE_BYTES) return Error(pointer, "bytes fields are not supported");
      if (!item.is_string()) return expected("a string");
      std::string text(item.get_string());
      repeated ? reflection->AddString(message, field, std::move(text))
               : reflection->SetString(message, field, std::move(text));
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      if (!item.is_bool()) return expected("a boolean");
      repeated ? reflection->AddBool(message, field, item.get_bool())
               : reflection->SetBool(message, field, item.get_bool());
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT32:
      if (!ReadInteger(item, true, &signed_value, &unsigned_value) || signed_value < INT32_MIN ||
          signed_value > INT32_MAX) {
        return expected("a 32-bit integer");
      }
      repeated ? reflection->AddInt32(message, field, int32_t(signed_value))
               : reflection->SetInt32(message, field, int32_t(signed_value));
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT64:
      if (!ReadInteger(item, true, &signed_value, &unsigned_value)) return expected("a 64-bit integer");
      repeated ? reflection->AddInt64(message, field, signed_value)
               : reflection->SetInt64(message, field, signed_value);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_UINT32:
      if (!ReadInteger(item, false, &signed_value, &unsigned_value) || unsigned_value > UINT32_MAX) {
        return expected("an unsigned 32-bit integer");
      }
      repeated ? reflection->AddUInt32(message, field, uint32_t(unsigned_value))
               : reflection->SetUInt32(message, field, uint32_t(unsigned_value));
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_UINT64:
      if (!ReadInteger(item, false, &signed_value, &unsigned_value)) return expected("an unsigned 64-bit integer");
      repeated ? reflection->AddUInt64(message, field, unsigned_value)
               : reflection->SetUInt64(message, field, unsigned_value);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double number = 0;
      if (!ReadDouble(item, &number)) return expected("a number");
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        repeated ? reflection->AddDouble(message, field, number) : reflection->SetDouble(message, field, number);
      } else {
        repeated ? reflection->AddFloat(message, field, float(number))
                 : reflection->SetFloat(message, field, float(number));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const google::protobuf::EnumValueDescriptor* value = nullptr;
      if (item.is_string()) {
        value = field->enum_type()->FindValueByName(std::string(item.get_string()));
      } else if (ReadInteger(item, true, &signed_value, &unsigned_value) && signed_value >= INT32_MIN &&
                 signed_value <= INT32_MAX) {
        value = field->enum_type()->FindValueByNumber(int(signed_value));
      }
      if (value == nullptr) {
        return Error(pointer, StrCat("not a value of ", std::string_view(field->enum_type()->full_name())));
      }
      repeated ? reflection->AddEnum(message, field, value) : reflection->SetEnum(message, field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      Message* child = repeated ? reflection->AddMessage(message, field) : reflection->MutableMessage(message, field);
      return FillMessage(item, child, pointer, depth + 1);
    }
  }
  return Error(pointer, "unsupported field type");
}

absl::Status FillMessage(const json::value& json, Message* message, const std::string& pointer, int depth) {
  if (depth > kMaxDepth) return Error(pointer, "nested too deeply");
  const Descriptor* descriptor = message->GetDescriptor();
  const std::string& type = descriptor->full_name();
  if (type == "google.protobuf.Value") {
    FillValue(json, static_cast<google::protobuf::Value*>(message), depth);
    return absl::OkStatus();
  }
  if (type == "google.protobuf.Struct") {
    if (!json.is_object()) return Error(pointer, StrCat("expected an object, got ", JsonKindName(json)));
    FillStruct(json.get_object(), static_cast<google::protobuf::Struct*>(message), depth);
    return absl::OkStatus();
  }
  if (type == "google.protobuf.ListValue") {
    if (!json.is_array()) return Error(pointer, StrCat("expected an array, got ", JsonKindName(json)));
    auto* list = static_cast<google::protobuf::ListValue*>(message);
    for (const json::value& item : json.get_array()) FillValue(item, list->add_values(), depth + 1);
    return absl::OkStatus();
  }
  if (descriptor->well_known_type() != Descriptor::WELLKNOWNTYPE_UNSPECIFIED) {
    return Error(pointer, StrCat("well-known type ", std::string_view(type), " is not supported"));
  }
  if (json.is_null()) return absl::OkStatus();
  const json::object* object = json.if_object();
  if (object == nullptr) {
    return Error(pointer, StrCat("expected an object for ", std::string_view(type), ", got ", JsonKindName(json)));
  }
  for (const auto& [key, item] : *object) {
    std::string name(key);
    const FieldDescriptor* field = descriptor->FindFieldByName(name);
    if (field == nullptr) field = descriptor->FindFieldByCamelcaseName(name);
    std::string field_pointer = JoinPointer(pointer, std::string_view(key));
    if (field == nullptr) {
      return Error(field_pointer, StrCat("unknown field \"", std::string_view(key), "\" in ", std::string_view(type)));
    }
    if (field->is_map()) return Error(field_pointer, "map fields are not supported");
    if (item.is_null()) {
      // null is the default, except where a Value can hold it.
      if (!field->is_repeated() && field->message_type() != nullptr &&
          field->message_type()->full_name() == "google.protobuf.Value") {
        static_cast<google::protobuf::Value*>(message->GetReflection()->MutableMessage(message, field))
            ->set_null_value(google::protobuf::NULL_VALUE);
      }
      continue;
    }
    if (field->is_repeated()) {
      const json::array* array = item.if_array();
      if (array == nullptr) return Error(field_pointer, StrCat("expected an array, got ", JsonKindName(item)));
      for (size_t i = 0; i < array->size(); ++i) {
        if (absl::Status status = SetField((*array)[i], message, field, JoinPointer(field_pointer, i), depth);
            !status.ok()) {
          return status;
        }
      }
      continue;
    }
    if (absl::Status status = SetField(item, message, field, field_pointer, depth); !status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status JsonToMessage(const boost::json::value& json, google::protobuf::Message* message) {
  return FillMessage(json, message, "", 0);
}

void JsonToValue(const boost::json::value& json, google::protobuf::Value* value) { FillValue(json, value, 0); }

boost::json::value ValueToJson(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kBoolValue: return value.bool_value();
    case google::protobuf::Value::kNumberValue: {
      double number = value.number_value();
      if (number == std::floor(number) && std::abs(number) <= 9.007199254740992e15) {
        return static_cast<int64_t>(number);
      }
      return number;
    }
    case google::protobuf::Value::kStringValue: return json::string(value.string_value());
    case google::protobuf::Value::kListValue: {
      json::array array;
      for (const auto& item : value.list_value().values()) array.push_back(ValueToJson(item));
      return array;
    }
    case google::protobuf::Value::kStructValue: {
      json::object object;
      for (const auto& [key, item] : value.struct_value().fields()) object[key] = ValueToJson(item);
      return object;
    }
    default: return nullptr;
  }
}

}  // namespace quantclaw
