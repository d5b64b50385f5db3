#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "embedrt/embedder.h"
#include "embedrt/error.h"
#include "support/test_paths.h"

namespace embedrt {
namespace {

std::filesystem::path minilm() { return testing::test_data_dir() / "models" / "all-MiniLM-L6-v2"; }

std::vector<std::string> sample_texts() {
  std::vector<std::string> texts;
  for (int i = 0; i < 40; ++i) {
    std::string text = "Sentence " + std::to_string(i) + ":";
    for (int w = 0; w < i % 13; ++w) text += " word" + std::to_string(w * i);
    texts.push_back(text);
  }
  texts.push_back("");
  texts.push_back("naïve café — 日本語のテキスト 🙂");
  return texts;
}

TEST(Embedder, ConcurrentCallsGiveTheSameBitsAsOneCall) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  const Embedder embedder = Embedder::load(minilm().string());
  const std::vector<std::string> texts = sample_texts();
  const Embeddings reference = embedder.encode(texts);
  ASSERT_EQ(reference.rows, texts.size());
  ASSERT_EQ(reference.dimension, 384u);

  std::vector<Embeddings> results(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      // Each thread encodes a different rotation of the texts, so batches differ too.
      std::vector<std::string> rotated(texts.begin() + static_cast<std::ptrdiff_t>(t * 7),
                                       texts.end());
      rotated.insert(rotated.end(), texts.begin(),
                     texts.begin() + static_cast<std::ptrdiff_t>(t * 7));
      results[t] = embedder.encode(rotated);
    });
  }
  for (auto& thread : threads) thread.join();
  for (size_t t = 0; t < results.size(); ++t) {
    for (size_t i = 0; i < texts.size(); ++i) {
      const size_t row = (i + texts.size() - t * 7) % texts.size();
      const auto got = results[t].row(row);
      const auto want = reference.row(i);
      ASSERT_TRUE(std::equal(got.begin(), got.end(), want.begin()))
          << "thread " << t << ", text " << i;
    }
  }
}

TEST(Embedder, OverflowErrorNamesTheTextIndex) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  EmbedderOptions options;
  options.on_overflow = OverflowPolicy::kError;
  options.max_length = 8;
  const Embedder embedder = Embedder::load(minilm().string(), options);
  const std::vector<std::string> texts = {"short", "one two three four five six seven eight"};
  EncodeOptions encode_options;
  encode_options.first_index = 100;
  try {
    embedder.encode(texts, encode_options);
    FAIL() << "expected kInputTooLong";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInputTooLong);
    EXPECT_NE(std::string(e.what()).find("text 101 is 10 tokens long, over the maximum of 8"),
              std::string::npos)
        << e.what();
  }
}

TEST(Embedder, RejectsBadOptions) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  EmbedderOptions options;
  options.pooling = "median";
  try {
    Embedder::load(minilm().string(), options);
    FAIL() << "expected kInvalidArgument";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("pooling 'median'"), std::string::npos);
  }
  options = {};
  options.max_length = 100000;
  EXPECT_THROW(Embedder::load(minilm().string(), options), Error);
}

TEST(Embedder, MaxLengthMayRiseToThePositionEmbeddings) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  EmbedderOptions options;
  options.max_length = 512;  // past max_seq_length (256), as sentence-transformers allows
  const Embedder embedder = Embedder::load(minilm().string(), options);
  EXPECT_EQ(embedder.info().max_length, 512u);
  std::string words;
  for (int i = 0; i < 700; ++i) words += " word";
  const Embeddings out = embedder.encode(std::vector<std::string>{words});
  EXPECT_EQ(out.total_tokens, 512u);
  EXPECT_EQ(out.truncated_texts, 1u);
  options.max_length = 513;
  try {
    (void)Embedder::load(minilm().string(), options);
    FAIL() << "expected kInvalidArgument";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(
        std::string(e.what()).find("limit of 512 tokens (config.json max_position_embeddings)"),
        std::string::npos)
        << e.what();
  }
}

TEST(Embedder, InfoDescribesTheModel) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  const Embedder embedder = Embedder::load(minilm().string());
  const ModelInfo& info = embedder.info();
  EXPECT_EQ(info.architecture, "bert");
  EXPECT_EQ(info.dimension, 384u);
  EXPECT_EQ(info.layers, 6u);
  EXPECT_EQ(info.attention_heads, 12u);
  EXPECT_EQ(info.max_length, 256u);
  EXPECT_EQ(info.pooling, "mean");
  EXPECT_TRUE(info.normalize);
  EXPECT_EQ(info.weight_dtype, "F32");
}

}  // namespace
}  // namespace embedrt
