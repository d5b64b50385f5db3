// embedrt::SparseEncoder against sentence-transformers' SparseEncoder on tiny SPLADE fixtures
// (scripts/make_reranker_models.py): the same non-zero set and values within 1e-4, top-k, and the
// batch not mattering.
#include "embedrt/sparse_encoder.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "embedrt/error.h"
#include "embedrt/model_kind.h"
#include "support/test_paths.h"

namespace embedrt {
namespace {

struct Reference {
  std::vector<std::string> texts;
  std::vector<SparseVector> vectors;
};

std::filesystem::path model_dir(const std::string& name) {
  return testing::test_data_dir() / "reranker-models" / name;
}

Reference read_reference(const std::string& name) {
  Reference r;
  std::ifstream in(model_dir(name) / "reference.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    r.texts.push_back(j["text"]);
    r.vectors.push_back(
        {j["indices"].get<std::vector<int32_t>>(), j["values"].get<std::vector<float>>()});
  }
  return r;
}

class SparseModels : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { EMBEDRT_REQUIRE_FIXTURE(model_dir(GetParam()) / "reference.jsonl"); }
};

TEST_P(SparseModels, NonZerosAndValuesMatchSparseEncoder) {
  const Reference ref = read_reference(GetParam());
  EmbedderOptions options;
  options.threads = 2;
  const SparseEncoder encoder = SparseEncoder::load(model_dir(GetParam()).string(), options);
  EXPECT_EQ(encoder.vocab_size(), 30522u);
  const auto got = encoder.encode(ref.texts);
  ASSERT_EQ(got.size(), ref.texts.size());
  size_t nonzeros = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].indices, ref.vectors[i].indices) << "text " << i << ": " << ref.texts[i];
    for (size_t k = 0; k < got[i].values.size(); ++k) {
      worst = std::max(worst, std::abs(double(got[i].values[k]) - ref.vectors[i].values[k]));
    }
    nonzeros += got[i].indices.size();
  }
  EXPECT_LE(worst, 1e-4);
  EXPECT_GT(nonzeros, got.size() * 10) << "the fixture should not be nearly empty";
}

TEST_P(SparseModels, TopKKeepsTheLargestAndOneTextIsItsBatchResult) {
  const Reference ref = read_reference(GetParam());
  const SparseEncoder encoder = SparseEncoder::load(model_dir(GetParam()).string());
  const auto all = encoder.encode(ref.texts);
  const auto top = encoder.encode(ref.texts, 5);
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_LE(top[i].indices.size(), 5u);
    std::vector<float> sorted = all[i].values;
    std::sort(sorted.rbegin(), sorted.rend());
    for (size_t k = 0; k < top[i].values.size(); ++k) {
      EXPECT_GE(top[i].values[k], sorted[std::min<size_t>(4, sorted.size() - 1)]);
    }
  }
  for (const size_t i : {size_t{0}, size_t{3}, ref.texts.size() - 1}) {
    const auto alone = encoder.encode(std::span(&ref.texts[i], 1));
    EXPECT_EQ(alone[0].indices, all[i].indices);
    EXPECT_EQ(alone[0].values, all[i].values);
  }
}

// prepare() + encode_batch() (the server's path) give encode()'s vectors bit for bit.
TEST_P(SparseModels, PrepareAndEncodeBatchGiveEncodesVectors) {
  const Reference ref = read_reference(GetParam());
  const SparseEncoder encoder = SparseEncoder::load(model_dir(GetParam()).string());
  EXPECT_EQ(detect_model_kind(model_dir(GetParam()).string()), ModelKind::kSparse);
  EXPECT_EQ(encoder.info().dimension, encoder.vocab_size());
  const std::vector<std::string> texts(ref.texts.begin(),
                                       ref.texts.begin() + std::min<size_t>(16, ref.texts.size()));
  const auto all = encoder.encode(texts);
  std::vector<PreparedText> items = encoder.prepare(texts);
  std::vector<PreparedText*> batch;
  for (size_t i = items.size(); i-- > 0;) batch.push_back(&items[i]);  // reversed order
  encoder.encode_batch(std::span(batch).first(3));
  encoder.encode_batch(std::span(batch).subspan(3));
  for (size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(items[i].sparse_indices, all[i].indices) << "text " << i;
    EXPECT_EQ(items[i].embedding, all[i].values) << "text " << i;
  }
}

TEST(ModelKind, AnEmbeddingFolderIsAnEmbedder) {
  const auto dir = testing::test_data_dir() / "family-models" / "tiny-xlm-roberta";
  EMBEDRT_REQUIRE_FIXTURE(dir);
  EXPECT_EQ(detect_model_kind(dir.string()), ModelKind::kEmbedding);
  EXPECT_EQ(to_string(ModelKind::kSparse), "sparse");
}

// A sequence-classification checkpoint is a classifier on its own, an embedder inside a
// SentenceTransformer chain (modules.json with a Pooling module).
TEST(ModelKind, APoolingChainMakesAClassifierCheckpointAnEmbedder) {
  const auto source = testing::test_data_dir() / "reranker-models" / "tiny-bert-ce-3";
  EMBEDRT_REQUIRE_FIXTURE(source / "config.json");
  const auto dir = std::filesystem::temp_directory_path() / "embedrt-model-kind-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(source / "config.json", dir / "config.json");
  EXPECT_EQ(detect_model_kind(dir.string()), ModelKind::kClassifier);
  std::ofstream(dir / "modules.json")
      << R"([{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
             {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}])";
  EXPECT_EQ(detect_model_kind(dir.string()), ModelKind::kEmbedding);
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SparseModels,
                         ::testing::Values("tiny-bert-splade", "tiny-bert-splade-sum"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

TEST(SparseEncoder, AnEmbeddingFolderIsAOneLineError) {
  const auto dir = testing::test_data_dir() / "family-models" / "tiny-xlm-roberta";
  EMBEDRT_REQUIRE_FIXTURE(dir);
  try {
    SparseEncoder::load(dir.string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no SpladePooling module"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace embedrt
