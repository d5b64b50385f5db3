// WordPiece: greedy longest-match-first subword splitting, as HF tokenizers' WordPiece model.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/byte_trie.h"
#include "tokenizer/components.h"
#include "tokenizer/vocab.h"

namespace embedrt::tokenizer {

class WordPiece final : public Model {
 public:
  // `tokens[id]` is the token with that id; `unk_token` must be one of them.
  WordPiece(std::vector<std::string> tokens, const std::string& unk_token,
            std::string continuing_subword_prefix, size_t max_input_chars_per_word);

  void tokenize(std::string_view piece, std::vector<PieceToken>& out) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override {
    return vocab_.find(token);
  }
  std::optional<std::string> id_to_token(int32_t id) const override;
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  Vocab vocab_;
  int32_t unk_id_;
  size_t max_input_chars_per_word_;
  // Tokens that may start a word, and tokens that continue one keyed without their prefix: a
  // continuation lookup then needs no string concatenation.
  ByteTrie word_start_;
  ByteTrie continuation_;
};

}  // namespace embedrt::tokenizer
