#include <gtest/gtest.h>

#include <omp.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "embedrt/embedder.h"
#include "embedrt/error.h"
#include "embedrt/system.h"
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
  // The cache off: every call must reach the model (with it, the reference call would answer all).
  EmbedderOptions options;
  options.cache_bytes = 0;
  const Embedder embedder = Embedder::load(minilm().string(), options);
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

// Called from inside the caller's own OpenMP parallel region (nesting off), the encoder gets a
// team of one thread however many it was configured for; the vectors must not change. (The same
// under OMP_THREAD_LIMIT is checked against sentence-transformers by the ctest entry
// e2e.parity_under_omp_thread_limit.)
TEST(Embedder, CallsFromInsideAnOpenMpRegionGiveTheSameBits) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  EmbedderOptions options;
  options.threads = 2;
  const Embedder embedder = Embedder::load(minilm().string(), options);
  const std::vector<std::string> texts = sample_texts();
  const Embeddings expected = embedder.encode(texts);
  std::vector<Embeddings> got(2);
#pragma omp parallel num_threads(2)
  got[omp_get_thread_num()] = embedder.encode(texts);
  for (const Embeddings& e : got) EXPECT_EQ(e.values, expected.values);
}

// What a bug report needs to say which path ran; under EMBEDRT_ISA (the ISA matrix) the kernels
// and oneDNN both take the lowered level.
TEST(Embedder, SystemInfoNamesTheIsaAndTheMatmulThatRun) {
  const SystemInfo system = system_info();
  EXPECT_EQ(std::string(version()), system.version);
  const char* requested = std::getenv("EMBEDRT_ISA");
  const std::string level = requested != nullptr && *requested != '\0' ? requested : "";
  if (level.empty() || level == system.cpu_isa) {
    EXPECT_EQ(system.isa, system.cpu_isa);
  } else if (level == "avx2" || level == "scalar") {
    EXPECT_EQ(system.isa, level);
    EXPECT_EQ(system.onednn_isa, level == "avx2" ? "avx2" : "sse41");
    EXPECT_FALSE(system.bf16);  // neither AVX512-BF16 nor AMX below AVX-512
    EXPECT_FALSE(system.attention_amx);
  }
  if (system.isa == "avx512") {
    EXPECT_EQ(system.onednn_isa.rfind("avx512", 0), 0u);
  }
  // Attention on AMX only where oneDNN found AMX too (the same CPU feature, the same OS grant).
  if (system.attention_amx) {
    EXPECT_NE(system.onednn_isa.find("amx"), std::string::npos);
  }

  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  for (const Precision precision : {Precision::kF32, Precision::kInt8}) {
    EmbedderOptions options;
    options.precision = precision;
    const ModelInfo info = Embedder::load(minilm().string(), options).info();
    SCOPED_TRACE(info.compute_dtype);
    EXPECT_FALSE(info.matmul_one_row.empty());
    EXPECT_FALSE(info.matmul_batch.empty());
    // embedrt's packed GEMMs run fp32 on AVX2 and AVX-512 and int8 on AVX2; elsewhere oneDNN's
    // kernel name is reported.
    const bool own_gemm =
        info.precision == precision &&
        (system.isa == "avx2" || (system.isa == "avx512" && precision == Precision::kF32));
    EXPECT_EQ(info.matmul_batch.find("embedrt:") != std::string::npos, own_gemm)
        << info.matmul_batch;
  }
}

}  // namespace
}  // namespace embedrt
