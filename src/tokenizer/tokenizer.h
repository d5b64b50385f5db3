// A tokenizer loaded from a Hugging Face tokenizer.json: added tokens, normalizer, pre-tokenizer,
// model, post-processor and truncation, reproducing HF `tokenizers` ids and offsets exactly.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "embedrt/encoding.h"

namespace embedrt::tokenizer {

struct Token;

enum class TruncationSide { kRight, kLeft };

struct Truncation {
  size_t max_length = 0;  // total tokens including special tokens; 0 = no truncation
  TruncationSide side = TruncationSide::kRight;
};

class Tokenizer {
 public:
  // Parses tokenizer.json. `source_name` is used in error messages (usually the file path).
  static Tokenizer from_json(std::string_view json, const std::string& source_name);
  static Tokenizer from_file(const std::filesystem::path& path);

  // Tokenizes one text. Invalid UTF-8 is replaced by U+FFFD (one per maximal invalid
  // subsequence, as Python's errors="replace") and counted in Encoding::replaced_invalid_utf8;
  // offsets always point into `text` as given. Thread-safe.
  Encoding encode(std::string_view text, bool add_special_tokens = true) const;

  // Tokenizes a pair (query and document of a cross-encoder) with the post-processor's pair
  // template: ids and type ids as HF's tokenizer(a, b) gives them. Truncation (truncation() when
  // max_length > 0) is HF's longest_first: the longer sequence loses tokens first, each keeping at
  // least half of the room when both are long. Offsets of the second sequence point into `b`.
  Encoding encode_pair(std::string_view a, std::string_view b,
                       bool add_special_tokens = true) const;

  // Tokenizes many texts on up to `threads` threads (0 = all cores); out[i] is texts[i].
  std::vector<Encoding> encode_batch(std::span<const std::string_view> texts,
                                     bool add_special_tokens = true, int threads = 0) const;

  // Truncation from tokenizer.json's "truncation" field, replaceable by the caller.
  const Truncation& truncation() const noexcept;
  void set_truncation(const Truncation& truncation);
  // A tokenizer sharing this one's (immutable) pipeline with a different truncation.
  Tokenizer with_truncation(const Truncation& truncation) const;

  size_t vocab_size() const;  // model vocabulary plus added tokens
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  // Tokens the post-processor adds to one sequence (2 for BERT's [CLS] ... [SEP]).
  size_t special_tokens_added() const;
  // Tokens it adds to a pair (3 for BERT's [CLS] A [SEP] B [SEP]).
  size_t special_tokens_added_pair() const;

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<Impl> impl);
  // Normalizes and tokenizes one text without special tokens or truncation.
  std::vector<Token> tokens_of(std::string_view text, uint32_t* replaced) const;
  std::shared_ptr<Impl> impl_;
  Truncation truncation_;
};

}  // namespace embedrt::tokenizer
