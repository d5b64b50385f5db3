#include "tokenizer/byte_trie.h"

#include <algorithm>
#include <cassert>

namespace embedrt::tokenizer {

ByteTrie::ByteTrie() : values_(1, -1), table_(1, Slot{kEmpty, 0}) {
  std::fill(std::begin(root_children_), std::end(root_children_), kNoNode);
}

uint32_t ByteTrie::child_for_build(uint32_t node, unsigned char byte) {
  if (node == kRoot) {
    if (root_children_[byte] == kNoNode) {
      root_children_[byte] = static_cast<uint32_t>(values_.size());
      values_.push_back(-1);
      has_root_children_ = true;
    }
    return root_children_[byte];
  }
  const uint64_t key = (static_cast<uint64_t>(node) << 8) | byte;
  const uint32_t found = child(node, byte);
  if (found != kNoNode) return found;
  const auto created = static_cast<uint32_t>(values_.size());
  values_.push_back(-1);
  edges_.push_back(Slot{key, created});
  // Insert into the live table as well, growing it when it gets half full.
  if (edges_.size() * 2 > table_.size()) {
    rebuild_table();
  } else {
    size_t slot = hash(key) & mask_;
    while (table_[slot].key != kEmpty) slot = (slot + 1) & mask_;
    table_[slot] = Slot{key, created};
  }
  return created;
}

void ByteTrie::insert(std::string_view key, int32_t value, bool overwrite) {
  assert(value >= 0);
  uint32_t node = kRoot;
  for (const char c : key) node = child_for_build(node, static_cast<unsigned char>(c));
  if (values_[node] < 0 || overwrite) values_[node] = value;
}

void ByteTrie::rebuild_table() {
  size_t capacity = 16;
  while (capacity < edges_.size() * 2 + 2) capacity *= 2;
  table_.assign(capacity, Slot{kEmpty, 0});
  mask_ = capacity - 1;
  for (const Slot& edge : edges_) {
    size_t slot = hash(edge.key) & mask_;
    while (table_[slot].key != kEmpty) slot = (slot + 1) & mask_;
    table_[slot] = edge;
  }
}

}  // namespace embedrt::tokenizer
