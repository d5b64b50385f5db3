// Accuracy gates for the bf16 and int8 encoder modes (issue: optimization modes), against the
// fp32 sentence-transformers reference: embeddings of the fixture texts and STS-B dev Spearman.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "embedrt/text_tokenizer.h"
#include "kernels/cpu/matmul.h"
#include "model/npy.h"
#include "model/pooling.h"
#include "model/transformer_encoder.h"
#include "support/statistics.h"
#include "support/test_paths.h"

namespace embedrt {
namespace {

namespace fs = std::filesystem;
using kernels::Precision;
using testing::spearman;

fs::path minilm() { return testing::test_data_dir() / "models" / "all-MiniLM-L6-v2"; }
fs::path reference_dir() { return testing::test_data_dir() / "embeddings" / "all-MiniLM-L6-v2"; }
fs::path sts_dev() { return testing::shared_data_dir() / "stsbenchmark" / "sts-dev.csv"; }
fs::path sts_reference() { return testing::test_data_dir() / "sts" / "minilm.json"; }

// all-MiniLM-L6-v2 as sentence-transformers runs it (mean pooling, L2 normalization), with the
// encoder in one precision. Texts are embedded `batch_size` at a time in the given order.
class MiniLM {
 public:
  explicit MiniLM(Precision precision)
      : tokenizer_(TextTokenizer::load(minilm().string())),
        encoder_(model::TransformerEncoder::load(minilm(), {precision})),
        pooling_(model::load_pooling_config(minilm() / "1_Pooling" / "config.json")) {}

  const model::TransformerEncoder& encoder() const { return encoder_; }

  std::vector<float> embed(const std::vector<std::string>& texts, size_t batch_size = 32) {
    const int64_t h = encoder_.config().hidden_size;
    std::vector<float> out(texts.size() * h);
    for (size_t first = 0; first < texts.size(); first += batch_size) {
      const size_t last = std::min(texts.size(), first + batch_size);
      std::vector<int32_t> ids, type_ids, offsets{0};
      for (size_t i = first; i < last; ++i) {
        const Encoding e = tokenizer_.tokenize(texts[i]);
        ids.insert(ids.end(), e.ids.begin(), e.ids.end());
        type_ids.insert(type_ids.end(), e.type_ids.begin(), e.type_ids.end());
        offsets.push_back(int32_t(ids.size()));
      }
      const auto hidden = encoder_.forward({ids, type_ids, offsets}, workspace_);
      model::pool(pooling_, hidden, h, offsets, 0, out.data() + first * h);
    }
    model::l2_normalize(out.data(), int64_t(texts.size()), h);
    return out;
  }

 private:
  TextTokenizer tokenizer_;
  model::TransformerEncoder encoder_;
  model::PoolingConfig pooling_;
  model::Workspace workspace_;
};

std::vector<std::string> reference_texts() {
  std::ifstream in(reference_dir() / "texts.jsonl");
  std::vector<std::string> texts;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  }
  return texts;
}

struct StsPair {
  double score;
  std::string a, b;
};

std::vector<StsPair> read_sts_dev() {
  std::ifstream in(sts_dev());
  std::vector<StsPair> pairs;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cols;
    std::stringstream fields(line);
    for (std::string col; std::getline(fields, col, '\t');) cols.push_back(col);
    if (cols.size() >= 7) pairs.push_back({std::stod(cols[4]), cols[5], cols[6]});
  }
  return pairs;
}

double dot(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(a[i]) * b[i];
  return s;
}

struct Gate {
  Precision precision;
  double min_cosine, mean_cosine, spearman_delta;
};

std::string name_of(const ::testing::TestParamInfo<Gate>& info) {
  return std::string(kernels::to_string(info.param.precision));
}

class PrecisionGate : public ::testing::TestWithParam<Gate> {
 protected:
  void SetUp() override {
    EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
    const Precision wanted = GetParam().precision;
    std::string why;
    if (kernels::resolve_precision(wanted, &why) != wanted) {
      GTEST_SKIP() << "this CPU cannot run " << kernels::to_string(wanted) << ": " << why;
    }
  }
};

TEST_P(PrecisionGate, CosineAgainstSentenceTransformersFp32) {
  EMBEDRT_REQUIRE_FIXTURE(reference_dir() / "embeddings.npy");
  const Gate gate = GetParam();
  const auto reference = testing::read_npy<float>(reference_dir() / "embeddings.npy");
  const std::vector<std::string> texts = reference_texts();
  ASSERT_EQ(reference.shape.at(0), int64_t(texts.size()));
  MiniLM model(gate.precision);
  ASSERT_EQ(model.encoder().precision(), gate.precision);
  const std::vector<float> got = model.embed(texts);
  const int64_t d = reference.shape.at(1);
  double worst = 1, sum = 0;
  size_t worst_index = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const double c = dot(got.data() + i * d, reference.data.data() + i * d, d);
    sum += c;
    if (c < worst) worst = c, worst_index = i;
  }
  const double mean = sum / double(texts.size());
  std::printf("%s vs fp32 sentence-transformers, %zu texts: mean cosine %.6f, min %.6f\n",
              std::string(kernels::to_string(gate.precision)).c_str(), texts.size(), mean, worst);
  RecordProperty("mean_cosine", std::to_string(mean));
  RecordProperty("min_cosine", std::to_string(worst));
  EXPECT_GE(mean, gate.mean_cosine);
  EXPECT_GE(worst, gate.min_cosine) << "text " << worst_index << ": " << texts[worst_index];
}

TEST_P(PrecisionGate, StsBenchmarkDevSpearman) {
  EMBEDRT_REQUIRE_FIXTURE(sts_dev());
  EMBEDRT_REQUIRE_FIXTURE(sts_reference());
  const Gate gate = GetParam();
  std::ifstream reference_file(sts_reference());
  const auto reference = nlohmann::json::parse(reference_file);
  const std::vector<StsPair> pairs = read_sts_dev();
  ASSERT_EQ(pairs.size(), reference.at("pairs").get<size_t>());
  std::vector<std::string> a, b;
  std::vector<double> gold;
  for (const StsPair& p : pairs) a.push_back(p.a), b.push_back(p.b), gold.push_back(p.score);
  MiniLM model(gate.precision);
  const std::vector<float> ea = model.embed(a), eb = model.embed(b);
  const int64_t d = model.encoder().config().hidden_size;
  std::vector<double> cosine(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) cosine[i] = dot(&ea[i * d], &eb[i * d], d);
  const double got = spearman(cosine, gold);
  const double want = reference.at("spearman").get<double>();
  std::printf("%s STS-B dev Spearman %.6f, fp32 sentence-transformers %.6f (delta %+.6f)\n",
              std::string(kernels::to_string(gate.precision)).c_str(), got, want, got - want);
  RecordProperty("spearman", std::to_string(got));
  EXPECT_LE(std::fabs(got - want), gate.spearman_delta);
}

// Issue gates: bf16 min cosine >= 0.999 and Spearman within 0.002; int8 mean cosine >= 0.995,
// min >= 0.98 and Spearman within 0.005.
INSTANTIATE_TEST_SUITE_P(Gates, PrecisionGate,
                         ::testing::Values(Gate{Precision::kBF16, 0.999, 0.999, 0.002},
                                           Gate{Precision::kInt8, 0.98, 0.995, 0.005}),
                         name_of);

// int8 quantizes each token's activations on its own and sums in exact integers; bf16 runs oneDNN
// with the same checked row blocking as fp32. Either way a text's embedding must not depend on its
// batch, its place in it or the batch size.
class BatchInvariance : public ::testing::TestWithParam<Precision> {};

TEST_P(BatchInvariance, EmbeddingsIgnoreBatchCompositionAndOrder) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  std::string why;
  if (kernels::resolve_precision(GetParam(), &why) != GetParam()) GTEST_SKIP() << why;
  std::vector<std::string> texts = reference_texts();
  texts.resize(120);
  MiniLM model(GetParam());
  const std::vector<float> base = model.embed(texts, 32);
  const size_t d = 384;
  for (size_t batch : {size_t(1), size_t(7), size_t(120)}) {
    EXPECT_EQ(model.embed(texts, batch), base) << "batch size " << batch;
  }
  std::vector<size_t> order(texts.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(3));
  std::vector<std::string> shuffled;
  for (size_t i : order) shuffled.push_back(texts[i]);
  const std::vector<float> got = model.embed(shuffled, 16);
  for (size_t k = 0; k < order.size(); ++k) {
    ASSERT_TRUE(
        std::equal(got.begin() + k * d, got.begin() + (k + 1) * d, base.begin() + order[k] * d))
        << "text " << order[k];
  }
}

INSTANTIATE_TEST_SUITE_P(Precisions, BatchInvariance,
                         ::testing::Values(Precision::kBF16, Precision::kInt8),
                         [](const auto& info) {
                           return std::string(kernels::to_string(info.param));
                         });

}  // namespace
}  // namespace embedrt
