#include "runtime/embedding_cache.h"

namespace embedrt::runtime {

// List node, hash node and vector/string headers: measured allocation overhead on glibc x86-64 is
// close to this, and overestimating keeps the bound honest.
constexpr size_t kEntryOverheadBytes = 160;

EmbeddingCache::EmbeddingCache(size_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

size_t EmbeddingCache::entry_bytes(size_t key_size, size_t dimension) noexcept {
  return key_size + dimension * sizeof(float) + kEntryOverheadBytes;
}

std::optional<CachedEmbedding> EmbeddingCache::find(std::string_view key) {
  std::lock_guard lock(mutex_);
  const auto it = index_.find(key);
  if (it == index_.end()) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->value;
}

void EmbeddingCache::insert(std::string key, CachedEmbedding value) {
  const size_t size = entry_bytes(key.size(), value.values.size());
  if (size > capacity_bytes_) return;
  std::lock_guard lock(mutex_);
  if (const auto it = index_.find(key); it != index_.end()) {
    // Another caller computed the same text meanwhile; the vectors are the same bits.
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  evict_to(capacity_bytes_ - size);
  lru_.push_front(Entry{std::move(key), std::move(value)});
  index_.emplace(lru_.front().key, lru_.begin());
  bytes_ += size;
}

void EmbeddingCache::evict_to(size_t limit) {
  while (bytes_ > limit && !lru_.empty()) {
    const Entry& victim = lru_.back();
    bytes_ -= entry_bytes(victim.key.size(), victim.value.values.size());
    index_.erase(victim.key);
    lru_.pop_back();
  }
}

EmbeddingCache::Stats EmbeddingCache::stats() const {
  std::lock_guard lock(mutex_);
  return {hits_, misses_, index_.size(), bytes_, capacity_bytes_};
}

}  // namespace embedrt::runtime
