// Byte-pair encoding, reproducing HF tokenizers' BPE model: characters (with optional continuing
// prefix / end-of-word suffix, byte fallback and fused unknowns) merged by rank, lowest first.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/components.h"
#include "tokenizer/vocab.h"

namespace embedrt::tokenizer {

struct BpeOptions {
  std::optional<std::string> unk_token;  // must be in the vocabulary when set
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

// A merge rule resolved to ids: `left` followed by `right` becomes `merged`.
struct BpeMerge {
  int32_t left;
  int32_t right;
  int32_t merged;
};

class Bpe final : public Model {
 public:
  // `merges` in rank order (index = rank); a later duplicate pair replaces an earlier one.
  Bpe(std::vector<std::string> tokens, const std::vector<BpeMerge>& merges, BpeOptions options);
  ~Bpe() override;

  void tokenize(std::string_view piece, std::vector<PieceToken>& out) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override {
    return vocab_.find(token);
  }
  std::optional<std::string> id_to_token(int32_t id) const override;
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    uint32_t length;  // bytes of the piece covered; 0 once merged into its left neighbour
  };
  struct Rule {
    uint32_t rank;
    int32_t merged;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  const Rule* find_rule(int32_t left, int32_t right) const {
    auto it = merges_.find(pair_key(left, right));
    return it == merges_.end() ? nullptr : &it->second;
  }
  void split_into_symbols(std::string_view piece, std::vector<Symbol>& symbols) const;
  void merge_all(std::vector<Symbol>& symbols) const;

  Vocab vocab_;
  std::unordered_map<uint64_t, Rule> merges_;
  BpeOptions options_;
  std::optional<int32_t> unk_id_;
  std::array<int32_t, 256> byte_ids_;  // id of "<0xXX>" or -1

  // Results per word: words repeat a lot in real text. Sharded so threads rarely contend.
  struct CacheShard;
  static constexpr size_t kCacheShards = 16;
  static constexpr size_t kCacheCapacityPerShard = 1024;
  static constexpr size_t kMaxCachedWordBytes = 256;
  std::unique_ptr<CacheShard[]> cache_;
};

}  // namespace embedrt::tokenizer
