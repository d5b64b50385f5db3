#include "tokenizer/json_reader.h"

#include "embedrt/error.h"

namespace embedrt::tokenizer {

std::string_view describe_json_type(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::object:
      return "an object";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "an integer";
    case nlohmann::json::value_t::number_float:
      return "a number";
    default:
      return "an unexpected value";
  }
}

void JsonNode::fail(std::string_view what) const {
  throw Error(ErrorCode::kInvalidModel, file_ + ": " + path_ + ": " + std::string(what));
}

void JsonNode::unsupported(std::string_view what) const {
  throw Error(ErrorCode::kUnsupported, file_ + ": " + path_ + ": " + std::string(what));
}

void JsonNode::expect_object() const {
  if (!value_->is_object()) {
    fail("expected an object, found " + std::string(describe_json_type(*value_)));
  }
}

void JsonNode::expect_array() const {
  if (!value_->is_array()) {
    fail("expected an array, found " + std::string(describe_json_type(*value_)));
  }
}

bool JsonNode::has(std::string_view key) const {
  return value_->is_object() && value_->contains(key);
}

JsonNode JsonNode::at(std::string_view key) const {
  expect_object();
  auto it = value_->find(key);
  if (it == value_->end()) fail("missing required field '" + std::string(key) + "'");
  return JsonNode(*it, file_, path_ + "." + std::string(key));
}

std::optional<JsonNode> JsonNode::find(std::string_view key) const {
  expect_object();
  auto it = value_->find(key);
  if (it == value_->end() || it->is_null()) return std::nullopt;
  return JsonNode(*it, file_, path_ + "." + std::string(key));
}

JsonNode JsonNode::at(size_t index) const {
  expect_array();
  if (index >= value_->size()) fail("index " + std::to_string(index) + " is out of range");
  return JsonNode((*value_)[index], file_, path_ + "[" + std::to_string(index) + "]");
}

size_t JsonNode::array_size() const {
  expect_array();
  return value_->size();
}

std::string JsonNode::as_string() const {
  if (!value_->is_string()) {
    fail("expected a string, found " + std::string(describe_json_type(*value_)));
  }
  return value_->get<std::string>();
}

bool JsonNode::as_bool() const {
  if (!value_->is_boolean()) {
    fail("expected a boolean, found " + std::string(describe_json_type(*value_)));
  }
  return value_->get<bool>();
}

int64_t JsonNode::as_int() const {
  if (!value_->is_number_integer()) {
    fail("expected an integer, found " + std::string(describe_json_type(*value_)));
  }
  return value_->get<int64_t>();
}

double JsonNode::as_double() const {
  if (!value_->is_number()) {
    fail("expected a number, found " + std::string(describe_json_type(*value_)));
  }
  return value_->get<double>();
}

std::string JsonNode::get_string(std::string_view key, std::string fallback) const {
  auto node = find(key);
  return node ? node->as_string() : std::move(fallback);
}

bool JsonNode::get_bool(std::string_view key, bool fallback) const {
  auto node = find(key);
  return node ? node->as_bool() : fallback;
}

int64_t JsonNode::get_int(std::string_view key, int64_t fallback) const {
  auto node = find(key);
  return node ? node->as_int() : fallback;
}

}  // namespace embedrt::tokenizer
