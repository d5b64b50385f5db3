#include "runtime/embedding_cache.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace embedrt::runtime {
namespace {

CachedEmbedding vector_of(float value, size_t dimension = 4) {
  CachedEmbedding e;
  e.values.assign(dimension, value);
  e.tokens = 7;
  e.truncated_tokens = 1;
  e.replaced_invalid_utf8 = 2;
  return e;
}

TEST(EmbeddingCache, ReturnsWhatWasStoredAndCountsHitsAndMisses) {
  EmbeddingCache cache(1 << 20);
  EXPECT_FALSE(cache.find("a"));
  cache.insert("a", vector_of(1.5f));
  const auto hit = cache.find("a");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->values, std::vector<float>(4, 1.5f));
  EXPECT_EQ(hit->tokens, 7u);
  EXPECT_EQ(hit->truncated_tokens, 1u);
  EXPECT_EQ(hit->replaced_invalid_utf8, 2u);
  const auto stats = cache.stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.bytes, EmbeddingCache::entry_bytes(1, 4));
}

TEST(EmbeddingCache, EvictsTheLeastRecentlyUsedToStayWithinItsBound) {
  const size_t entry = EmbeddingCache::entry_bytes(1, 4);
  EmbeddingCache cache(3 * entry);
  cache.insert("a", vector_of(1));
  cache.insert("b", vector_of(2));
  cache.insert("c", vector_of(3));
  ASSERT_TRUE(cache.find("a"));  // a is now the most recent; b the least
  cache.insert("d", vector_of(4));
  EXPECT_TRUE(cache.find("a"));
  EXPECT_FALSE(cache.find("b"));
  EXPECT_TRUE(cache.find("c"));
  EXPECT_TRUE(cache.find("d"));
  EXPECT_LE(cache.stats().bytes, 3 * entry);
  EXPECT_EQ(cache.stats().entries, 3u);
}

TEST(EmbeddingCache, KeysAreExactBytes) {
  EmbeddingCache cache(1 << 20);
  cache.insert(std::string("a\0b", 3), vector_of(1));
  EXPECT_FALSE(cache.find("a"));
  EXPECT_FALSE(cache.find(std::string("a\0c", 3)));
  EXPECT_TRUE(cache.find(std::string("a\0b", 3)));
}

TEST(EmbeddingCache, ZeroCapacityOrOversizedEntriesAreNotStored) {
  EmbeddingCache off(0);
  off.insert("a", vector_of(1));
  EXPECT_FALSE(off.find("a"));
  EmbeddingCache small(EmbeddingCache::entry_bytes(1, 4));
  small.insert("a", vector_of(1, 1000));
  EXPECT_FALSE(small.find("a"));
  EXPECT_EQ(small.stats().bytes, 0u);
}

TEST(EmbeddingCache, ConcurrentUseKeepsTheBound) {
  const size_t entry = EmbeddingCache::entry_bytes(8, 16);
  EmbeddingCache cache(50 * entry);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string key = std::to_string(10000000 + (i * 7 + t) % 300);
        if (const auto hit = cache.find(key)) {
          EXPECT_EQ(hit->values[0], float(std::stoi(key)));
        } else {
          cache.insert(key, vector_of(float(std::stoi(key)), 16));
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto stats = cache.stats();
  EXPECT_LE(stats.bytes, 50 * entry);
  EXPECT_EQ(stats.hits + stats.misses, 8000u);
}

}  // namespace
}  // namespace embedrt::runtime
