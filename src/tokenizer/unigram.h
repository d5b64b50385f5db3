// Unigram language-model segmentation (SentencePiece), reproducing HF tokenizers' Unigram model:
// Viterbi over the vocabulary's pieces, unknown characters scored min_score - 10, consecutive
// unknowns fused, optional byte fallback to <0xXX> tokens.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tokenizer/byte_trie.h"
#include "tokenizer/components.h"
#include "tokenizer/vocab.h"

namespace embedrt::tokenizer {

class Unigram final : public Model {
 public:
  // `pieces[id]` = (token, log probability). `unk_id`, when set, must be a valid id.
  Unigram(std::vector<std::pair<std::string, double>> pieces, std::optional<int32_t> unk_id,
          bool byte_fallback, bool fuse_unk = true);

  void tokenize(std::string_view piece, std::vector<PieceToken>& out) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override {
    return vocab_.find(token);
  }
  std::optional<std::string> id_to_token(int32_t id) const override;
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  Vocab vocab_;
  std::vector<double> scores_;
  std::optional<int32_t> unk_id_;
  bool byte_fallback_;
  bool fuse_unk_;
  double unk_score_;
  ByteTrie trie_;
  int32_t byte_ids_[256];  // id of "<0xXX>" or -1
};

}  // namespace embedrt::tokenizer
