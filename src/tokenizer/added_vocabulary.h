// Tokens added on top of the model's vocabulary (tokenizer.json "added_tokens"), registered and
// matched the way HF tokenizers' AddedVocabulary does: tokens that are not normalized are found in
// the raw text first, the others in each remaining piece after normalization; leftmost-longest
// matching, with the single_word, lstrip and rstrip rules.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/byte_trie.h"
#include "tokenizer/components.h"

namespace embedrt::tokenizer {

struct AddedToken {
  std::string content;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  friend bool operator==(const AddedToken&, const AddedToken&) = default;
};

// A piece of text [begin, end) that is either an added token (`id` >= 0) or plain text (-1).
struct TextSplit {
  size_t begin;
  size_t end;
  int32_t id;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // Registers `tokens` in order, giving each the model's id for its content or the next free id
  // after the model's vocabulary. `normalizer` (may be null) normalizes the matching patterns of
  // tokens with normalized = true.
  AddedVocabulary(const std::vector<AddedToken>& tokens, const Model& model,
                  const Normalizer* normalizer);

  // Splits `text` into added tokens and the text between them (covering all of it).
  void split_raw(std::string_view text, std::vector<TextSplit>& out) const {
    split(text, raw_, out);
  }
  void split_normalized(std::string_view text, std::vector<TextSplit>& out) const {
    split(text, normalized_, out);
  }
  bool has_raw() const noexcept { return !raw_.ids.empty(); }
  bool has_normalized() const noexcept { return !normalized_.ids.empty(); }

  std::optional<int32_t> token_to_id(std::string_view content) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  // Number of added tokens whose content the model does not know.
  size_t extra_vocab_size() const noexcept { return extra_; }

 private:
  struct Matcher {
    ByteTrie trie;  // pattern -> index into ids
    std::vector<int32_t> ids;
    bool first_byte[256] = {};
  };
  void add(const AddedToken& token, const Model& model);
  void build_matcher(Matcher& m, const std::vector<std::pair<std::string, int32_t>>& patterns);
  void split(std::string_view text, const Matcher& m, std::vector<TextSplit>& out) const;

  std::unordered_map<std::string, int32_t> ids_;
  std::unordered_map<int32_t, AddedToken> tokens_by_id_;
  std::vector<AddedToken> special_, classic_;
  std::vector<std::string> special_contents_;
  Matcher raw_, normalized_;
  size_t extra_ = 0;
};

}  // namespace embedrt::tokenizer
