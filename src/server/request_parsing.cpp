#include "server/request_parsing.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <limits>
#include <string_view>

#include "server/api_error.h"
#include "tokenizer/utf8_repair.h"

namespace embedrt::server {
namespace {

using json = nlohmann::json;

[[noreturn]] void invalid(const std::string& param, const std::string& message) {
  throw ApiError(422, param + ": " + message, param);
}

const json* find_field(const json& body, const char* name) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

void require_object(const json& body) {
  if (!body.is_object()) throw ApiError(422, "the request body must be a JSON object");
}

std::vector<int32_t> token_ids_of(const json& array, const std::string& param) {
  if (array.empty()) invalid(param, "a token-id input must not be empty");
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (size_t j = 0; j < array.size(); ++j) {
    const json& id = array[j];
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() > std::numeric_limits<int32_t>::max() ||
        (id.is_number_unsigned() &&
         id.get<uint64_t>() > uint64_t(std::numeric_limits<int32_t>::max()))) {
      invalid(param + "[" + std::to_string(j) + "]", "expected a non-negative integer token id");
    }
    ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
  }
  return ids;
}

// A string, an array of strings, an array of token ids or an array of token-id arrays.
EmbeddingInputs parse_inputs(const json* value, const std::string& param, bool allow_token_ids) {
  EmbeddingInputs inputs;
  if (value == nullptr) invalid(param, "required");
  if (value->is_string()) {
    inputs.texts.push_back(value->get<std::string>());
    return inputs;
  }
  const char* expected = allow_token_ids
                             ? "expected a string, an array of strings, an array of token ids or "
                               "an array of token-id arrays"
                             : "expected a string or an array of strings";
  if (!value->is_array()) invalid(param, expected);
  if (value->empty()) invalid(param, "must not be empty");
  const json& first = value->front();
  if (first.is_string()) {
    inputs.texts.reserve(value->size());
    for (size_t i = 0; i < value->size(); ++i) {
      const json& item = (*value)[i];
      if (!item.is_string()) invalid(param + "[" + std::to_string(i) + "]", "expected a string");
      inputs.texts.push_back(item.get<std::string>());
    }
    return inputs;
  }
  if (!allow_token_ids) invalid(param + "[0]", "expected a string");
  inputs.is_token_ids = true;
  if (first.is_number()) {
    inputs.token_ids.push_back(token_ids_of(*value, param));
    return inputs;
  }
  inputs.token_ids.reserve(value->size());
  for (size_t i = 0; i < value->size(); ++i) {
    const json& item = (*value)[i];
    const std::string item_param = param + "[" + std::to_string(i) + "]";
    if (!item.is_array()) invalid(item_param, "expected an array of token ids");
    inputs.token_ids.push_back(token_ids_of(item, item_param));
  }
  return inputs;
}

std::optional<bool> optional_bool(const json& body, const char* name) {
  const json* value = find_field(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) invalid(name, "expected true or false");
  return value->get<bool>();
}

std::string optional_string(const json& body, const char* name) {
  const json* value = find_field(body, name);
  if (value == nullptr) return {};
  if (!value->is_string()) invalid(name, "expected a string");
  return value->get<std::string>();
}

std::optional<size_t> optional_dimensions(const json& body) {
  const json* value = find_field(body, "dimensions");
  if (value == nullptr) return std::nullopt;
  if (!value->is_number_integer() || value->get<int64_t>() < 1) {
    invalid("dimensions", "expected a positive integer");
  }
  return static_cast<size_t>(value->get<int64_t>());
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Pairs and the sparse encoder cut on the right only (as sentence-transformers does).
void right_truncation_only(const json& body) {
  if (const json* direction = find_field(body, "truncation_direction")) {
    if (!direction->is_string() || lower(direction->get<std::string>()) != "right") {
      invalid("truncation_direction", "expected \"Right\" (this model truncates on the right)");
    }
  }
}

std::string required_string(const json& body, const char* name) {
  const json* value = find_field(body, name);
  if (value == nullptr) invalid(name, "required");
  if (!value->is_string()) invalid(name, "expected a string");
  return value->get<std::string>();
}

}  // namespace

json parse_json_body(std::string_view body) {
  // The parser itself is iterative, but every level costs heap: a 2 MB body of '[' would make a
  // million nested arrays. No request field nests deeper than three.
  const json::parser_callback_t limit_depth = [](int depth, json::parse_event_t event, json&) {
    if (depth >= static_cast<int>(kMaxJsonDepth) &&
        (event == json::parse_event_t::object_start || event == json::parse_event_t::array_start)) {
      throw ApiError(400, "the request body is not valid JSON: nested deeper than " +
                              std::to_string(kMaxJsonDepth) + " levels");
    }
    return true;
  };
  try {
    return json::parse(body, limit_depth);
  } catch (const json::exception& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 1, column 5: ...
    // last read: '<bytes of the body>'" (or out_of_range.406 for a number like 1e400). The bytes
    // may be any, and the message goes back inside a JSON error body: invalid UTF-8 is replaced.
    std::string detail = e.what();
    if (const size_t pos = detail.find("] "); pos != std::string::npos) detail.erase(0, pos + 2);
    throw ApiError(
        400, "the request body is not valid JSON: " + tokenizer::replace_invalid_utf8(detail));
  }
}

EmbeddingRequest parse_openai_request(const json& body) {
  require_object(body);
  EmbeddingRequest request;
  request.inputs = parse_inputs(find_field(body, "input"), "input", true);
  if (const json* format = find_field(body, "encoding_format")) {
    // Beyond OpenAI's two, the quantized forms that Azure AI Inference and Mixedbread accept in
    // the same field, named as sentence-transformers' precisions.
    static constexpr std::string_view kFormats[] = {"float", "base64", "int8",
                                                    "uint8", "binary", "ubinary"};
    const std::string name = format->is_string() ? format->get<std::string>() : "";
    if (std::find(std::begin(kFormats), std::end(kFormats), name) == std::end(kFormats)) {
      invalid("encoding_format",
              "expected \"float\", \"base64\", \"int8\", \"uint8\", \"binary\" or "
              "\"ubinary\"");
    }
    request.base64 = name == "base64";
    if (!request.base64 && name != "float") request.precision = parse_output_precision(name);
  }
  request.dimensions = optional_dimensions(body);
  optional_string(body, "model");  // any model name is answered by the one model served
  optional_string(body, "user");
  return request;
}

EmbeddingRequest parse_tei_request(const json& body) {
  require_object(body);
  EmbeddingRequest request;
  request.inputs = parse_inputs(find_field(body, "inputs"), "inputs", true);
  request.normalize = optional_bool(body, "normalize");
  request.truncate = optional_bool(body, "truncate");
  if (const json* direction = find_field(body, "truncation_direction")) {
    const std::string side = direction->is_string() ? lower(direction->get<std::string>()) : "";
    if (side == "left") {
      request.truncation_side = TruncationSide::kLeft;
    } else if (side != "right") {
      invalid("truncation_direction", "expected \"Left\" or \"Right\"");
    }
  }
  request.prompt_name = optional_string(body, "prompt_name");
  request.dimensions = optional_dimensions(body);
  return request;
}

TokenizeRequest parse_tokenize_request(const json& body) {
  require_object(body);
  TokenizeRequest request;
  request.texts = parse_inputs(find_field(body, "inputs"), "inputs", false).texts;
  request.add_special_tokens = optional_bool(body, "add_special_tokens").value_or(true);
  request.prompt_name = optional_string(body, "prompt_name");
  return request;
}

}  // namespace embedrt::server

namespace embedrt::server {

RerankRequest parse_rerank_request(const json& body) {
  require_object(body);
  RerankRequest request;
  request.query = required_string(body, "query");
  const json* texts = find_field(body, "texts");
  if (texts == nullptr) invalid("texts", "required");
  if (!texts->is_array()) invalid("texts", "expected an array of strings");
  request.texts = parse_inputs(texts, "texts", false).texts;
  request.raw_scores = optional_bool(body, "raw_scores").value_or(false);
  request.return_text = optional_bool(body, "return_text").value_or(false);
  request.truncate = optional_bool(body, "truncate");
  right_truncation_only(body);
  return request;
}

RerankRequest parse_cohere_rerank_request(const json& body) {
  require_object(body);
  RerankRequest request;
  request.query = required_string(body, "query");
  const json* documents = find_field(body, "documents");
  if (documents == nullptr) invalid("documents", "required");
  if (!documents->is_array()) invalid("documents", "expected an array");
  if (documents->empty()) invalid("documents", "must not be empty");
  request.texts.reserve(documents->size());
  for (size_t i = 0; i < documents->size(); ++i) {
    const json& item = (*documents)[i];
    const std::string param = "documents[" + std::to_string(i) + "]";
    if (item.is_string()) {
      request.texts.push_back(item.get<std::string>());
    } else if (item.is_object() && item.contains("text") && item["text"].is_string()) {
      request.texts.push_back(item["text"].get<std::string>());
    } else {
      invalid(param, "expected a string or an object with a \"text\" string");
    }
  }
  if (const json* top_n = find_field(body, "top_n")) {
    if (!top_n->is_number_integer() || top_n->get<int64_t>() < 1) {
      invalid("top_n", "expected a positive integer");
    }
    request.top_n = static_cast<size_t>(top_n->get<int64_t>());
  }
  request.return_text = optional_bool(body, "return_documents").value_or(false);
  optional_string(body, "model");
  return request;
}

PredictRequest parse_predict_request(const json& body) {
  require_object(body);
  PredictRequest request;
  const json* inputs = find_field(body, "inputs");
  if (inputs == nullptr) invalid("inputs", "required");
  const auto is_pair = [](const json& value) {
    return value.is_array() && value.size() == 2 && value[0].is_string() && value[1].is_string();
  };
  if (inputs->is_string()) {
    request.inputs.push_back({inputs->get<std::string>()});
  } else if (is_pair(*inputs)) {
    request.inputs.push_back({(*inputs)[0].get<std::string>(), (*inputs)[1].get<std::string>()});
  } else {
    if (!inputs->is_array()) {
      invalid("inputs", "expected a string, a [text, text] pair or an array of them");
    }
    if (inputs->empty()) invalid("inputs", "must not be empty");
    request.batch = true;
    request.inputs.reserve(inputs->size());
    for (size_t i = 0; i < inputs->size(); ++i) {
      const json& item = (*inputs)[i];
      if (item.is_string()) {
        request.inputs.push_back({item.get<std::string>()});
      } else if (is_pair(item)) {
        request.inputs.push_back({item[0].get<std::string>(), item[1].get<std::string>()});
      } else {
        invalid("inputs[" + std::to_string(i) + "]", "expected a string or a [text, text] pair");
      }
    }
  }
  request.raw_scores = optional_bool(body, "raw_scores").value_or(false);
  request.truncate = optional_bool(body, "truncate");
  right_truncation_only(body);
  return request;
}

SparseRequest parse_sparse_request(const json& body) {
  require_object(body);
  SparseRequest request;
  request.texts = parse_inputs(find_field(body, "inputs"), "inputs", false).texts;
  request.truncate = optional_bool(body, "truncate");
  right_truncation_only(body);
  return request;
}

}  // namespace embedrt::server
