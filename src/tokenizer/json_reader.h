// Typed access to tokenizer.json with errors that name the file, the JSON path and what was
// expected, e.g. "tokenizer.json: $.model.vocab: expected an object, found null".
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace embedrt::tokenizer {

// A JSON value together with where it sits, for error messages.
class JsonNode {
 public:
  JsonNode(const nlohmann::json& value, std::string file, std::string path = "$")
      : value_(&value), file_(std::move(file)), path_(std::move(path)) {}

  const nlohmann::json& value() const noexcept { return *value_; }
  const std::string& file() const noexcept { return file_; }
  const std::string& path() const noexcept { return path_; }

  bool has(std::string_view key) const;
  bool is_null() const { return value_->is_null(); }
  // Member `key`; throws kInvalidModel when absent. A present null is returned as null.
  JsonNode at(std::string_view key) const;
  // Member `key` or nullopt when absent or null.
  std::optional<JsonNode> find(std::string_view key) const;
  JsonNode at(size_t index) const;
  size_t array_size() const;  // throws unless an array

  std::string as_string() const;
  bool as_bool() const;
  int64_t as_int() const;
  double as_double() const;

  std::string get_string(std::string_view key, std::string fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;
  int64_t get_int(std::string_view key, int64_t fallback) const;

  // Throws kInvalidModel: "<file>: <path>: <what>".
  [[noreturn]] void fail(std::string_view what) const;
  // Throws kUnsupported: "<file>: <path>: <what>".
  [[noreturn]] void unsupported(std::string_view what) const;
  void expect_object() const;
  void expect_array() const;

 private:
  const nlohmann::json* value_;
  std::string file_;
  std::string path_;
};

// Name of a JSON type as used in messages ("an object", "a string", ...).
std::string_view describe_json_type(const nlohmann::json& value);

}  // namespace embedrt::tokenizer
