#include "tokenizer/unigram.h"

#include <cassert>
#include <cstdio>
#include <limits>

#include "embedrt/error.h"

namespace embedrt::tokenizer {
namespace {

// Penalty HF (and SentencePiece) give an unknown character relative to the rarest piece.
constexpr double kUnknownPenalty = 10.0;

struct BestPath {
  int32_t id = -1;
  double score = 0.0;
  int64_t starts_at = -1;  // -1: not reached yet
};

}  // namespace

Unigram::Unigram(std::vector<std::pair<std::string, double>> pieces, std::optional<int32_t> unk_id,
                 bool byte_fallback, bool fuse_unk)
    : unk_id_(unk_id), byte_fallback_(byte_fallback), fuse_unk_(fuse_unk) {
  std::vector<std::string> tokens;
  tokens.reserve(pieces.size());
  scores_.reserve(pieces.size());
  double min_score = std::numeric_limits<double>::infinity();
  for (auto& [token, score] : pieces) {
    tokens.push_back(std::move(token));
    scores_.push_back(score);
    min_score = std::min(min_score, score);
  }
  vocab_ = Vocab(std::move(tokens));
  unk_score_ = min_score - kUnknownPenalty;
  for (const std::string& token : vocab_.tokens()) {
    if (!token.empty()) trie_.insert(token, *vocab_.find(token), true);
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    byte_ids_[b] = vocab_.find(name).value_or(-1);
  }
}

std::optional<std::string> Unigram::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_.size()) return std::nullopt;
  return vocab_.token(id);
}

void Unigram::tokenize(std::string_view text, std::vector<PieceToken>& out) const {
  if (text.empty()) return;
  const size_t size = text.size();
  thread_local std::vector<BestPath> best;
  best.assign(size + 1, BestPath{});
  best[0].starts_at = 0;  // the empty prefix is reachable with score 0
  size_t start = 0;
  while (start < size) {
    const double score_here = best[start].score;
    const size_t char_len =
        std::min(utf8_length(static_cast<unsigned char>(text[start])), size - start);
    bool has_single_char_piece = false;
    uint32_t node = ByteTrie::kRoot;
    for (size_t i = start; i < size; ++i) {
      node = trie_.child(node, static_cast<unsigned char>(text[i]));
      if (node == ByteTrie::kNoNode) break;
      const int32_t id = trie_.value(node);
      if (id < 0) continue;
      BestPath& target = best[i + 1];
      const double candidate = scores_[static_cast<size_t>(id)] + score_here;
      if (target.starts_at < 0 || candidate > target.score) {
        target = BestPath{id, candidate, static_cast<int64_t>(start)};
      }
      if (i + 1 - start == char_len) has_single_char_piece = true;
    }
    if (!has_single_char_piece) {
      if (!unk_id_) {
        throw Error(ErrorCode::kInvalidModel,
                    "Unigram model: text contains a character outside the vocabulary and the "
                    "model has no unk_id");
      }
      BestPath& target = best[start + char_len];
      const double candidate = unk_score_ + score_here;
      if (target.starts_at < 0 || candidate > target.score) {
        target = BestPath{*unk_id_, candidate, static_cast<int64_t>(start)};
      }
    }
    start += char_len;
  }

  // Walk back from the end; pieces come out reversed.
  thread_local std::vector<PieceToken> pieces;
  pieces.clear();
  size_t end = size;
  size_t unk_end = 0;  // end of the pending run of fused unknowns, 0 if none
  while (end > 0) {
    const BestPath& node = best[end];
    const auto begin = static_cast<size_t>(node.starts_at);
    if (fuse_unk_ && unk_id_ && node.id == *unk_id_) {
      if (unk_end == 0) unk_end = end;
    } else {
      if (unk_end != 0) {
        pieces.push_back(
            PieceToken{*unk_id_, static_cast<uint32_t>(end), static_cast<uint32_t>(unk_end)});
        unk_end = 0;
      }
      pieces.push_back(
          PieceToken{node.id, static_cast<uint32_t>(begin), static_cast<uint32_t>(end)});
    }
    end = begin;
  }
  if (unk_end != 0) pieces.push_back(PieceToken{*unk_id_, 0, static_cast<uint32_t>(unk_end)});

  for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
    const std::string_view piece = text.substr(it->begin, it->end - it->begin);
    // HF maps every piece back through its string-to-id table: a fused run of unknowns can spell
    // a real token, and pieces not in the table fall back to bytes or to unk.
    if (const auto id = vocab_.find(piece)) {
      out.push_back(PieceToken{*id, it->begin, it->end});
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes = true;
      for (const char c : piece) all_bytes &= byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all_bytes) {
        for (const char c : piece) {
          out.push_back(PieceToken{byte_ids_[static_cast<unsigned char>(c)], it->begin, it->end});
        }
        continue;
      }
    }
    assert(unk_id_.has_value());
    out.push_back(PieceToken{*unk_id_, it->begin, it->end});
  }
}

}  // namespace embedrt::tokenizer
