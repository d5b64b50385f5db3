// The four stages of the Hugging Face tokenizer.json pipeline, as interfaces, and the factories
// that build them from JSON. Every implementation is immutable after construction and safe to use
// from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "embedrt/encoding.h"
#include "tokenizer/json_reader.h"
#include "tokenizer/normalized_string.h"

namespace embedrt::tokenizer {

// Rewrites text in place (lowercasing, accent stripping, Unicode normalization forms, ...).
class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedString& text) const = 0;
};

// Splits one piece of normalized text into the pieces the model tokenizes separately, possibly
// rewriting them (ByteLevel maps bytes to printable characters, Metaspace replaces spaces).
// Appends to `out`; empty pieces are dropped.
class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(NormalizedString&& piece, std::vector<NormalizedString>& out) const = 0;
};

// A token produced by the model: its id and its byte range [begin, end) within the piece.
struct PieceToken {
  int32_t id;
  uint32_t begin;
  uint32_t end;
};

// Turns one pre-tokenized piece into token ids (WordPiece, Unigram, BPE).
class Model {
 public:
  virtual ~Model() = default;
  virtual void tokenize(std::string_view piece, std::vector<PieceToken>& out) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::string> id_to_token(int32_t id) const = 0;
  virtual size_t vocab_size() const = 0;
};

// One token of an encoding before post-processing.
struct Token {
  int32_t id;
  ByteSpan offsets;    // in the original text
  bool added = false;  // matched by the added vocabulary: its text is the original span
};

// Adds special tokens around a single sequence and sets type ids (TemplateProcessing,
// BertProcessing, RobertaProcessing, ByteLevel).
class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Number of tokens process() adds to a single sequence; truncation leaves room for them.
  virtual size_t added_tokens_single() const = 0;
  // Number of tokens process_pair() adds to a pair of sequences.
  virtual size_t added_tokens_pair() const = 0;
  // Fills `out` (cleared by the caller) from the sequence's tokens. `original` is the input text,
  // needed by processors that trim offsets to exclude whitespace.
  virtual void process(const std::vector<Token>& tokens, std::string_view original,
                       bool add_special_tokens, Encoding& out) const = 0;
  // The same for a pair (HF's pair template: [CLS] A [SEP] B [SEP] and the like). Offsets of the
  // second sequence's tokens point into `original_b`.
  virtual void process_pair(const std::vector<Token>& a, std::string_view original_a,
                            const std::vector<Token>& b, std::string_view original_b,
                            bool add_special_tokens, Encoding& out) const = 0;
};

// Resolves a special token's content to its id; used while building post-processors.
class TokenLookup {
 public:
  virtual ~TokenLookup() = default;
  virtual std::optional<int32_t> find_id(std::string_view token) const = 0;
};

// Factories: build a component from its JSON object. Unknown "type" values throw kUnsupported
// ("normalizer type 'X' is not supported"); malformed fields throw kInvalidModel naming the path.
std::unique_ptr<Normalizer> make_normalizer(const JsonNode& node);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const JsonNode& node);
std::unique_ptr<Model> make_model(const JsonNode& node);
std::unique_ptr<PostProcessor> make_post_processor(const JsonNode& node, const TokenLookup& lookup);

}  // namespace embedrt::tokenizer
