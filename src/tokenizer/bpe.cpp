#include "tokenizer/bpe.h"

#include <cassert>
#include <cstdio>
#include <functional>
#include <queue>

namespace embedrt::tokenizer {

namespace {
struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>()(s); }
};
}  // namespace

struct Bpe::CacheShard {
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<PieceToken>, TransparentHash, std::equal_to<>> words;
};

Bpe::Bpe(std::vector<std::string> tokens, const std::vector<BpeMerge>& merges, BpeOptions options)
    : vocab_(std::move(tokens)),
      options_(std::move(options)),
      cache_(std::make_unique<CacheShard[]>(kCacheShards)) {
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const BpeMerge& m = merges[rank];
    merges_.insert_or_assign(pair_key(m.left, m.right),
                             Rule{static_cast<uint32_t>(rank), m.merged});
  }
  if (options_.unk_token) {
    unk_id_ = vocab_.find(*options_.unk_token);
    assert(unk_id_.has_value());
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    byte_ids_[static_cast<size_t>(b)] = vocab_.find(name).value_or(-1);
  }
}

Bpe::~Bpe() = default;

std::optional<std::string> Bpe::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_.size()) return std::nullopt;
  return vocab_.token(id);
}

void Bpe::split_into_symbols(std::string_view piece, std::vector<Symbol>& symbols) const {
  // Pending unknown run: (id, byte length), flushed before the next known symbol.
  int32_t unk_id = -1;
  uint32_t unk_length = 0;
  auto add = [&symbols](int32_t id, uint32_t length) {
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back(Symbol{id, index - 1, index + 1, length});
  };
  thread_local std::string decorated;
  size_t i = 0;
  while (i < piece.size()) {
    const size_t begin = i;
    i = std::min(piece.size(), i + utf8_length(static_cast<unsigned char>(piece[i])));
    const auto byte_length = static_cast<uint32_t>(i - begin);
    std::string_view s = piece.substr(begin, byte_length);
    const bool first = begin == 0;
    const bool last = i == piece.size();
    if ((!first && !options_.continuing_subword_prefix.empty()) ||
        (last && !options_.end_of_word_suffix.empty())) {
      decorated.clear();
      if (!first) decorated += options_.continuing_subword_prefix;
      decorated += s;
      if (last) decorated += options_.end_of_word_suffix;
      s = decorated;
    }
    if (const auto id = vocab_.find(s)) {
      if (unk_id >= 0) {
        add(unk_id, unk_length);
        unk_id = -1;
      }
      add(*id, byte_length);
      continue;
    }
    if (options_.byte_fallback) {
      bool all_bytes = true;
      for (const char c : s) all_bytes &= byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all_bytes) {
        // As in HF: one symbol per byte of the decorated string, each one byte long, and a
        // pending unknown run is not flushed first.
        for (const char c : s) add(byte_ids_[static_cast<unsigned char>(c)], 1);
        continue;
      }
    }
    if (unk_id_) {
      if (unk_id >= 0 && options_.fuse_unk) {
        unk_length += byte_length;
      } else {
        if (unk_id >= 0) add(unk_id, unk_length);
        unk_id = *unk_id_;
        unk_length = byte_length;
      }
    }
  }
  if (unk_id >= 0) add(unk_id, unk_length);
  if (!symbols.empty()) symbols.back().next = -1;
}

void Bpe::merge_all(std::vector<Symbol>& symbols) const {
  struct Candidate {
    uint32_t rank;
    int32_t pos;
    int32_t merged;
    // Lowest rank first, then leftmost position.
    bool operator<(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  thread_local std::vector<Candidate> storage;
  storage.clear();
  std::priority_queue<Candidate, std::vector<Candidate>> queue(std::less<Candidate>(),
                                                               std::move(storage));
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (const Rule* rule = find_rule(symbols[i].id, symbols[i + 1].id)) {
      queue.push(Candidate{rule->rank, static_cast<int32_t>(i), rule->merged});
    }
  }
  const auto n = static_cast<int32_t>(symbols.size());
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& current = symbols[static_cast<size_t>(top.pos)];
    if (current.length == 0 || current.next == -1) continue;
    const int32_t right_pos = current.next;
    const Symbol right = symbols[static_cast<size_t>(right_pos)];
    // Skip entries made stale by earlier merges.
    const Rule* rule = find_rule(current.id, right.id);
    if (rule == nullptr || rule->merged != top.merged) continue;
    current.id = top.merged;
    current.length += right.length;
    current.next = right.next;
    symbols[static_cast<size_t>(right_pos)].length = 0;
    if (right.next > -1 && right.next < n) symbols[static_cast<size_t>(right.next)].prev = top.pos;
    if (current.prev >= 0) {
      const Symbol& prev = symbols[static_cast<size_t>(current.prev)];
      if (const Rule* r = find_rule(prev.id, current.id)) {
        queue.push(Candidate{r->rank, current.prev, r->merged});
      }
    }
    if (current.next >= 0 && current.next < n) {
      if (const Rule* r = find_rule(current.id, symbols[static_cast<size_t>(current.next)].id)) {
        queue.push(Candidate{r->rank, top.pos, r->merged});
      }
    }
  }
}

void Bpe::tokenize(std::string_view piece, std::vector<PieceToken>& out) const {
  if (piece.empty()) return;
  if (options_.ignore_merges) {
    if (const auto id = vocab_.find(piece)) {
      out.push_back(PieceToken{*id, 0, static_cast<uint32_t>(piece.size())});
      return;
    }
  }
  const bool cacheable = piece.size() <= kMaxCachedWordBytes;
  CacheShard& shard = cache_[std::hash<std::string_view>()(piece) % kCacheShards];
  if (cacheable) {
    std::lock_guard lock(shard.mutex);
    auto it = shard.words.find(piece);
    if (it != shard.words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  thread_local std::vector<Symbol> symbols;
  symbols.clear();
  split_into_symbols(piece, symbols);
  merge_all(symbols);
  const size_t first = out.size();
  uint32_t pos = 0;
  for (const Symbol& symbol : symbols) {
    if (symbol.length == 0) continue;
    out.push_back(PieceToken{symbol.id, pos, pos + symbol.length});
    pos += symbol.length;
  }
  if (cacheable) {
    std::lock_guard lock(shard.mutex);
    // A full shard is simply not extended: the cache only has to catch frequent words.
    if (shard.words.size() < kCacheCapacityPerShard) {
      shard.words.emplace(
          std::string(piece),
          std::vector<PieceToken>(out.begin() + static_cast<std::ptrdiff_t>(first), out.end()));
    }
  }
}

}  // namespace embedrt::tokenizer
