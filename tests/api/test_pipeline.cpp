// The performance pipeline around the encoder: token-budget batching, the two-step
// prepare/embed_batch API, the embedding cache and the per-call profile.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "embedrt/embedder.h"
#include "embedrt/error.h"
#include "embedrt/profile.h"
#include "support/test_paths.h"

namespace embedrt {
namespace {

std::filesystem::path minilm() { return testing::test_data_dir() / "models" / "all-MiniLM-L6-v2"; }

// Texts of 4 to about 4 + 2 * max_words tokens, lengths mixed so that batches differ.
std::vector<std::string> varied_texts(size_t count, size_t max_words = 60) {
  std::vector<std::string> texts;
  for (size_t i = 0; i < count; ++i) {
    std::string text = "Item " + std::to_string(i) + " says";
    for (size_t w = 0; w < (i * 37) % (max_words + 1); ++w) {
      text += " token" + std::to_string((w * i) % 97);
    }
    texts.push_back(text);
  }
  return texts;
}

void expect_same_bits(const Embeddings& a, const Embeddings& b) {
  ASSERT_EQ(a.rows, b.rows);
  ASSERT_EQ(a.dimension, b.dimension);
  for (size_t i = 0; i < a.values.size(); ++i) {
    ASSERT_EQ(a.values[i], b.values[i]) << "row " << i / a.dimension;
  }
}

EmbedderOptions no_cache() {
  EmbedderOptions options;
  options.cache_bytes = 0;
  return options;
}

TEST(Pipeline, TokenBudgetAndBatchSizeDoNotChangeTheBits) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  const std::vector<std::string> texts = varied_texts(60);
  EmbedderOptions one_by_one = no_cache();
  one_by_one.batch_size = 1;
  const Embeddings reference = Embedder::load(minilm().string(), one_by_one).encode(texts);
  for (const auto& [batch_size, tokens] :
       std::vector<std::pair<size_t, size_t>>{{64, 300}, {1000, 100000}, {5, 1}, {32, 2048}}) {
    EmbedderOptions options = no_cache();
    options.batch_size = batch_size;
    options.max_batch_tokens = tokens;
    const Embedder embedder = Embedder::load(minilm().string(), options);
    EXPECT_EQ(embedder.info().batch_size, batch_size);
    EXPECT_EQ(embedder.info().max_batch_tokens, tokens);
    expect_same_bits(embedder.encode(texts), reference);
  }
}

TEST(Pipeline, InputsLargerThanOneTokenizationStepKeepTheirOrderAndIndex) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  const Embedder embedder = Embedder::load(minilm().string(), no_cache());
  std::vector<std::string> texts = varied_texts(2500, 2);
  const Embeddings all = embedder.encode(texts);
  // Rows computed alone must match the rows of the pipelined call.
  for (const size_t i : {size_t{0}, size_t{1023}, size_t{1024}, size_t{2047}, size_t{2499}}) {
    const Embeddings one = embedder.encode(std::span(&texts[i], 1));
    for (size_t d = 0; d < one.dimension; ++d) ASSERT_EQ(one.values[d], all.row(i)[d]) << i;
  }

  // A text too long for the model, past the first step, is named by its index.
  texts[2100] = std::string(4000, 'x');
  for (int i = 0; i < 2000; ++i) texts[2100] += " word";
  EncodeOptions strict;
  strict.on_overflow = OverflowPolicy::kError;
  strict.first_index = 10;
  try {
    embedder.encode(texts, strict);
    FAIL() << "expected kInputTooLong";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInputTooLong);
    EXPECT_NE(std::string(e.what()).find("text 2110 "), std::string::npos) << e.what();
  }
}

TEST(Pipeline, PrepareAndEmbedBatchMixRequestsWithoutChangingTheirResults) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  const Embedder embedder = Embedder::load(minilm().string(), no_cache());
  const std::vector<std::string> first = varied_texts(9);
  const std::vector<std::string> second{"a query about cats", "  padded text  ", ""};
  EncodeOptions raw;
  raw.normalize = false;
  EncodeOptions prompted;
  prompted.prompt = "query: ";

  auto a = embedder.prepare(first, raw);
  auto b = embedder.prepare(second, prompted);
  std::vector<PreparedText*> batch;
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    if (i < b.size()) batch.push_back(&b[i]);
    if (i < a.size()) batch.push_back(&a[i]);
  }
  StageTimes times;
  embedder.embed_batch(batch, &times);
  EXPECT_GT(times.model_inference_ms, 0);
  EXPECT_GT(times.ops.ffn_up_ms, 0);

  const Embeddings ra = embedder.encode(first, raw);
  const Embeddings rb = embedder.encode(second, prompted);
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].embedding, std::vector<float>(ra.row(i).begin(), ra.row(i).end())) << i;
    ASSERT_EQ(a[i].tokens, a[i].encoding.ids.size());
  }
  for (size_t i = 0; i < b.size(); ++i) {
    ASSERT_EQ(b[i].embedding, std::vector<float>(rb.row(i).begin(), rb.row(i).end())) << i;
  }
  // normalize=false really skipped the model's Normalize module.
  double norm = 0;
  for (const float v : a[3].embedding) norm += double(v) * v;
  EXPECT_GT(std::abs(std::sqrt(norm) - 1.0), 1e-3);
}

TEST(Pipeline, ABatchRunFromACheckpointOvertakesWithoutChangingAnyResult) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  const Embedder embedder = Embedder::load(minilm().string(), no_cache());
  const auto large_texts = varied_texts(24);
  const std::vector<std::string> query_texts{"a short query"};
  const Embeddings large_reference = embedder.encode(large_texts);
  const Embeddings query_reference = embedder.encode(query_texts);

  auto large = embedder.prepare(large_texts);
  auto query = embedder.prepare(query_texts);
  std::vector<PreparedText*> large_batch, query_batch{&query[0]};
  for (auto& item : large) large_batch.push_back(&item);
  int checkpoints = 0;
  StageTimes large_times, query_times;
  embedder.embed_batch(large_batch, &large_times, [&] {
    // The query overtakes at the second checkpoint, in the middle of the first layer.
    if (++checkpoints == 2) embedder.embed_batch(query_batch, &query_times);
  });
  // About five checkpoints per layer, all six layers.
  EXPECT_GE(checkpoints, 6 * 5);
  for (size_t i = 0; i < large.size(); ++i) {
    ASSERT_EQ(large[i].embedding,
              std::vector<float>(large_reference.row(i).begin(), large_reference.row(i).end()))
        << i;
  }
  ASSERT_EQ(query[0].embedding,
            std::vector<float>(query_reference.row(0).begin(), query_reference.row(0).end()));
  // The query's time is its own, not the large batch's: the large batch's inference time is its
  // operations plus glue, well short of also holding the query's.
  const InferenceOpTimes& ops = large_times.ops;
  const double ops_ms = ops.embeddings_ms + ops.qkv_ms + ops.attention_ms +
                        ops.attention_output_ms + ops.ffn_up_ms + ops.ffn_down_ms;
  EXPECT_GT(query_times.model_inference_ms, 0);
  EXPECT_GE(large_times.model_inference_ms, ops_ms);
  EXPECT_LT(large_times.model_inference_ms, ops_ms + query_times.model_inference_ms);
}

TEST(Pipeline, TokenIdInputsMatchTheTextPath) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  const Embedder embedder = Embedder::load(minilm().string(), no_cache());
  const std::vector<std::string> texts{"The quick brown fox.", "jumps over the lazy dog"};
  const Embeddings reference = embedder.encode(texts);
  std::vector<std::vector<int32_t>> ids;
  for (const auto& text : texts) ids.push_back(embedder.tokenizer().tokenize(text).ids);
  auto items = embedder.prepare_token_ids(ids);
  std::vector<PreparedText*> batch{&items[0], &items[1]};
  embedder.embed_batch(batch);
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ(items[i].embedding,
              std::vector<float>(reference.row(i).begin(), reference.row(i).end()));
  }

  const std::vector<std::vector<int32_t>> bad{{101, 2000, 102}, {101, 999999, 102}};
  EncodeOptions options;
  options.first_index = 4;
  try {
    embedder.prepare_token_ids(bad, options);
    FAIL() << "expected kInvalidArgument";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("input 5"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("999999"), std::string::npos) << e.what();
  }
  EXPECT_THROW(embedder.prepare_token_ids(std::vector<std::vector<int32_t>>{{}}), Error);
}

TEST(Pipeline, CacheHitsAreBitIdenticalAndCounted) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  EmbedderOptions options;
  options.cache_bytes = 1 << 20;
  const Embedder cached = Embedder::load(minilm().string(), options);
  const Embedder plain = Embedder::load(minilm().string(), no_cache());
  EXPECT_EQ(plain.cache_stats().capacity_bytes, 0u);

  const std::vector<std::string> texts = varied_texts(30);
  const Embeddings reference = plain.encode(texts);
  expect_same_bits(cached.encode(texts), reference);
  EXPECT_EQ(cached.cache_stats().misses, 30u);
  EXPECT_EQ(cached.cache_stats().entries, 30u);

  EncodeOptions profiled;
  profiled.profile = true;
  const Embeddings again = cached.encode(texts, profiled);
  expect_same_bits(again, reference);
  EXPECT_EQ(cached.cache_stats().hits, 30u);
  EXPECT_EQ(again.total_tokens, reference.total_tokens);
  ASSERT_TRUE(again.profile);
  EXPECT_EQ(again.profile->cache_hits, 30u);
  EXPECT_EQ(again.profile->batches, 0u);

  // Options that change the vector are part of the key.
  EncodeOptions unnormalized;
  unnormalized.normalize = false;
  const Embeddings raw = cached.encode(texts, unnormalized);
  expect_same_bits(raw, plain.encode(texts, unnormalized));
  EncodeOptions prompted;
  prompted.prompt = "query: ";
  expect_same_bits(cached.encode(texts, prompted), plain.encode(texts, prompted));
  EXPECT_LE(cached.cache_stats().bytes, size_t{1} << 20);
}

TEST(Pipeline, LeftTruncationKeepsTheEndOfTheText) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  EmbedderOptions options = no_cache();
  options.max_length = 8;
  const Embedder embedder = Embedder::load(minilm().string(), options);
  const std::vector<std::string> long_text{"one two three four five six seven eight nine ten"};
  EncodeOptions left;
  left.truncation_side = TruncationSide::kLeft;
  const auto items = embedder.prepare(long_text, left);
  const Encoding tail = embedder.tokenizer().tokenize("five six seven eight nine ten");
  ASSERT_EQ(items[0].encoding.ids.size(), 8u);
  EXPECT_EQ(items[0].encoding.ids[0], tail.ids[0]);  // [CLS]
  EXPECT_EQ(std::vector<int32_t>(items[0].encoding.ids.begin() + 1, items[0].encoding.ids.end()),
            std::vector<int32_t>(tail.ids.end() - 7, tail.ids.end()));
  EXPECT_EQ(items[0].encoding.truncated_tokens, 4u);
}

TEST(Pipeline, ProfileStagesAddUpToTheTotal) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  const Embedder embedder = Embedder::load(minilm().string(), no_cache());
  const std::vector<std::string> texts = varied_texts(200);
  embedder.encode(texts);  // warm-up: first-use costs are not what this test is about
  EncodeOptions options;
  options.profile = true;
  const Embeddings result = embedder.encode(texts, options);
  ASSERT_TRUE(result.profile);
  const EncodeProfile& p = *result.profile;
  const StageTimes& s = p.stages;
  const double stages = s.tokenization_ms + s.tensor_conversion_ms + s.model_inference_ms +
                        s.pooling_ms + s.normalization_ms;
  EXPECT_LE(stages, p.total_ms * 1.001);
  EXPECT_GE(stages, p.total_ms * 0.9) << "untimed glue is more than 10% of the call";
  const InferenceOpTimes& o = s.ops;
  const double ops = o.embeddings_ms + o.qkv_ms + o.attention_ms + o.attention_output_ms +
                     o.ffn_up_ms + o.ffn_down_ms;
  EXPECT_LE(ops, s.model_inference_ms * 1.001);
  EXPECT_GE(ops, s.model_inference_ms * 0.8);
  EXPECT_EQ(p.texts, 200u);
  EXPECT_EQ(p.tokens, result.total_tokens);
  EXPECT_GT(p.batches, 0u);
  EXPECT_GT(p.memory_peak_mb, 50.0);  // the process holds at least the model's weights
  EXPECT_GT(p.buffer_peak_mb, 0.0);
  EXPECT_NEAR(p.tokens_per_second, p.tokens / (p.total_ms / 1000.0), 1e-6 * p.tokens_per_second);
  EXPECT_FALSE(p.gpu_utilization_percent);
  EXPECT_EQ(p.precision, "fp32");

  const auto json = nlohmann::json::parse(format_profile_json(p));
  for (const char* key : {"tokenization_ms", "tensor_conversion_ms", "model_inference_ms",
                          "pooling_ms", "normalization_ms", "total_ms", "tokens_per_second",
                          "memory_peak_mb", "gpu_utilization_percent"}) {
    EXPECT_TRUE(json.contains(key)) << key;
  }
  EXPECT_TRUE(json["gpu_utilization_percent"].is_null());
  EXPECT_DOUBLE_EQ(json["total_ms"].get<double>(), p.total_ms);
  EXPECT_NE(format_profile_table(p).find("model_inference"), std::string::npos);
  EXPECT_EQ(embedder.buffer_peak_bytes(), size_t(p.buffer_peak_mb * 1024 * 1024 + 0.5));
}

TEST(Pipeline, OptimizeModesResolveToTheirDocumentedKnobs) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  EmbedderOptions options;
  options.optimize = OptimizeMode::kThroughput;
  const ModelInfo throughput = Embedder::load(minilm().string(), options).info();
  EXPECT_FALSE(throughput.deterministic);
  EXPECT_TRUE(throughput.adaptive_batching);
  EXPECT_EQ(throughput.batch_size, 128u);
  options.optimize = OptimizeMode::kLatency;
  options.deterministic = false;
  options.batch_size = 3;
  const ModelInfo latency = Embedder::load(minilm().string(), options).info();
  EXPECT_FALSE(latency.deterministic);  // explicit options win over the mode
  EXPECT_EQ(latency.batch_size, 3u);
  EXPECT_EQ(latency.max_batch_tokens, 2048u);

  EXPECT_EQ(parse_precision("int8"), Precision::kInt8);
  EXPECT_EQ(parse_optimize_mode("memory"), OptimizeMode::kMemory);
  EXPECT_THROW(parse_precision("fp8"), Error);
  EXPECT_THROW(parse_optimize_mode("fast"), Error);
}

}  // namespace
}  // namespace embedrt
