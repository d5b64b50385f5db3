// A byte-wise trie over token strings whose edges live in one open-addressing table, so that each
// step of a walk is a single probe with no allocation. Used for longest-match (WordPiece, added
// tokens) and common-prefix search (Unigram).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace embedrt::tokenizer {

class ByteTrie {
 public:
  static constexpr uint32_t kNoNode = UINT32_MAX;
  static constexpr uint32_t kRoot = 0;

  ByteTrie();

  // Stores `value` (>= 0) at `key`. When the key is already present the first value is kept unless
  // `overwrite` is set.
  void insert(std::string_view key, int32_t value, bool overwrite = false);

  uint32_t child(uint32_t node, unsigned char byte) const noexcept {
    if (node == kRoot) return root_children_[byte];
    const uint64_t key = (static_cast<uint64_t>(node) << 8) | byte;
    size_t slot = hash(key) & mask_;
    while (true) {
      const Slot& s = table_[slot];
      if (s.key == key) return s.child;
      if (s.key == kEmpty) return kNoNode;
      slot = (slot + 1) & mask_;
    }
  }
  // Value stored at `node`, or -1.
  int32_t value(uint32_t node) const noexcept { return values_[node]; }
  bool empty() const noexcept { return values_.size() == 1 && !has_root_children_; }

 private:
  static constexpr uint64_t kEmpty = UINT64_MAX;
  struct Slot {
    uint64_t key;
    uint32_t child;
  };
  static size_t hash(uint64_t key) noexcept {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 20);
  }
  uint32_t child_for_build(uint32_t node, unsigned char byte);
  void rebuild_table();

  std::vector<int32_t> values_;  // per node
  std::vector<Slot> edges_;      // (parent << 8 | byte) -> child, unsorted, for building
  std::vector<Slot> table_;
  size_t mask_ = 0;
  uint32_t root_children_[256];
  bool has_root_children_ = false;
};

}  // namespace embedrt::tokenizer
