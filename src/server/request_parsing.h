// Request bodies of the embedding, TEI and tokenize endpoints, checked field by field. Every
// failure is an ApiError: 400 for a body that is not JSON, 422 naming the field (and the index
// within `input`) for a wrong type or value.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "embedrt/quantization.h"
#include "embedrt/text_tokenizer.h"

namespace embedrt::server {

// Either texts or token-id sequences (one request never mixes them).
struct EmbeddingInputs {
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> token_ids;
  bool is_token_ids = false;
  size_t size() const { return is_token_ids ? token_ids.size() : texts.size(); }
};

struct EmbeddingRequest {
  EmbeddingInputs inputs;
  bool base64 = false;  // OpenAI encoding_format
  // encoding_format int8, uint8, binary or ubinary: arrays of integers (quantize_embeddings)
  OutputPrecision precision = OutputPrecision::kFloat32;
  std::optional<size_t> dimensions;  // keep the first k values, renormalized
  std::optional<bool> normalize;     // TEI; empty = the model's choice
  std::optional<bool> truncate;      // TEI; empty = the server's --auto-truncate
  TruncationSide truncation_side = TruncationSide::kRight;
  std::string prompt_name;  // TEI
};

struct TokenizeRequest {
  std::vector<std::string> texts;
  bool add_special_tokens = true;
  std::string prompt_name;
};

// POST /rerank (TEI) and POST /v1/rerank (Cohere, Jina).
struct RerankRequest {
  std::string query;
  std::vector<std::string> texts;
  bool raw_scores = false;       // TEI; logits instead of the model's activation
  bool return_text = false;      // TEI return_text, Cohere/Jina return_documents
  std::optional<bool> truncate;  // TEI; empty = the server's --auto-truncate
  size_t top_n = 0;              // Cohere/Jina; 0 = all
};

// POST /predict: each input is one text or a (text, text) pair.
struct PredictRequest {
  std::vector<std::vector<std::string>> inputs;  // each of size 1 or 2
  bool batch = false;  // a list of inputs was given: the answer is a list of lists
  bool raw_scores = false;
  std::optional<bool> truncate;
};

// POST /embed_sparse.
struct SparseRequest {
  std::vector<std::string> texts;
  std::optional<bool> truncate;
};

// Arrays and objects a request body may nest (as serde_json, which TEI parses with, allows).
inline constexpr size_t kMaxJsonDepth = 128;

// Parses the body; a body that is not JSON (invalid UTF-8 and lone surrogate escapes included),
// or that nests deeper than kMaxJsonDepth, is a 400 naming where it broke.
nlohmann::json parse_json_body(std::string_view body);

// POST /v1/embeddings: input, model, encoding_format (float, base64, int8, uint8, binary,
// ubinary), dimensions, user.
EmbeddingRequest parse_openai_request(const nlohmann::json& body);
// POST /embed: inputs, normalize, truncate, truncation_direction, prompt_name, dimensions.
EmbeddingRequest parse_tei_request(const nlohmann::json& body);
// POST /tokenize: inputs, add_special_tokens, prompt_name.
TokenizeRequest parse_tokenize_request(const nlohmann::json& body);
// POST /rerank: query, texts, raw_scores, return_text, truncate, truncation_direction (Right).
RerankRequest parse_rerank_request(const nlohmann::json& body);
// POST /v1/rerank: query, documents (strings or {"text": ...} objects), top_n, return_documents,
// model (any name is answered by the one model served).
RerankRequest parse_cohere_rerank_request(const nlohmann::json& body);
// POST /predict: inputs (a text, a [text, text] pair, or a list of texts and pairs; a list of
// exactly two texts is one pair, as TEI reads it), raw_scores, truncate, truncation_direction.
PredictRequest parse_predict_request(const nlohmann::json& body);
// POST /embed_sparse: inputs (a text or a list of texts), truncate, truncation_direction.
SparseRequest parse_sparse_request(const nlohmann::json& body);

}  // namespace embedrt::server
