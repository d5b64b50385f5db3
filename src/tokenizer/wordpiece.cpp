#include "tokenizer/wordpiece.h"

#include <cassert>

namespace embedrt::tokenizer {

WordPiece::WordPiece(std::vector<std::string> tokens, const std::string& unk_token,
                     std::string continuing_subword_prefix, size_t max_input_chars_per_word)
    : vocab_(std::move(tokens)), max_input_chars_per_word_(max_input_chars_per_word) {
  const auto unk = vocab_.find(unk_token);
  assert(unk.has_value());
  unk_id_ = *unk;
  const std::string& prefix = continuing_subword_prefix;
  // The map's id (last occurrence wins) is what a lookup by string returns in HF.
  for (const std::string& token : vocab_.tokens()) {
    const int32_t id = *vocab_.find(token);
    word_start_.insert(token, id, true);
    if (token.compare(0, prefix.size(), prefix) == 0 && token.size() >= prefix.size()) {
      continuation_.insert(std::string_view(token).substr(prefix.size()), id, true);
    }
  }
}

std::optional<std::string> WordPiece::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_.size()) return std::nullopt;
  return vocab_.token(id);
}

void WordPiece::tokenize(std::string_view piece, std::vector<PieceToken>& out) const {
  if (piece.empty()) return;
  const auto whole = PieceToken{unk_id_, 0, static_cast<uint32_t>(piece.size())};
  size_t chars = 0;
  for (const char c : piece) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  if (chars > max_input_chars_per_word_) {
    out.push_back(whole);
    return;
  }
  const size_t first = out.size();
  size_t start = 0;
  while (start < piece.size()) {
    const ByteTrie& trie = start == 0 ? word_start_ : continuation_;
    uint32_t node = ByteTrie::kRoot;
    size_t best_end = 0;
    int32_t best_id = -1;
    for (size_t i = start; i < piece.size(); ++i) {
      node = trie.child(node, static_cast<unsigned char>(piece[i]));
      if (node == ByteTrie::kNoNode) break;
      const int32_t id = trie.value(node);
      if (id >= 0) {
        best_end = i + 1;
        best_id = id;
      }
    }
    if (best_id < 0) {
      // One unmatchable position makes the whole word unknown.
      out.resize(first);
      out.push_back(whole);
      return;
    }
    out.push_back(
        PieceToken{best_id, static_cast<uint32_t>(start), static_cast<uint32_t>(best_end)});
    start = best_end;
  }
}

}  // namespace embedrt::tokenizer
