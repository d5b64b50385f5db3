// A bounded LRU cache of finished embeddings, keyed by everything that determines the vector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace embedrt::runtime {

struct CachedEmbedding {
  std::vector<float> values;
  uint32_t tokens = 0;            // tokens the model saw
  uint32_t truncated_tokens = 0;  // tokens cut off by truncation
  uint32_t replaced_invalid_utf8 = 0;
};

// Thread-safe. Capacity counts keys, vectors and a fixed per-entry overhead, so the bound holds
// for the process's memory, not only for the float payload. An entry larger than the capacity is
// not stored.
class EmbeddingCache {
 public:
  explicit EmbeddingCache(size_t capacity_bytes);

  std::optional<CachedEmbedding> find(std::string_view key);  // counts a hit or a miss
  void insert(std::string key, CachedEmbedding value);

  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    size_t entries = 0;
    size_t bytes = 0;
    size_t capacity_bytes = 0;
  };
  Stats stats() const;

  // Bytes charged for one entry: key, vector and the bookkeeping around them.
  static size_t entry_bytes(size_t key_size, size_t dimension) noexcept;

 private:
  struct Entry {
    std::string key;
    CachedEmbedding value;
  };
  using List = std::list<Entry>;

  void evict_to(size_t limit);

  mutable std::mutex mutex_;
  const size_t capacity_bytes_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  List lru_;  // most recently used first
  std::unordered_map<std::string_view, List::iterator> index_;
};

}  // namespace embedrt::runtime
