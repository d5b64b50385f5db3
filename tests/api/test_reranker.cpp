// embedrt::Reranker against sentence-transformers' CrossEncoder on the tiny reranker fixtures
// (scripts/make_reranker_models.py): scores in fp32, the bf16 and int8 ranking gates, batch
// invariance, ranking and bad input.
#include "embedrt/reranker.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "embedrt/error.h"
#include "embedrt/model_kind.h"
#include "kernels/cpu/matmul.h"
#include "support/statistics.h"
#include "support/test_paths.h"

namespace embedrt {
namespace {

std::filesystem::path model_dir(const std::string& name) {
  return testing::test_data_dir() / "reranker-models" / name;
}

struct Reference {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::vector<float> logits, scores;  // [pairs, labels]
};

Reference read_reference(const std::string& name) {
  Reference r;
  std::ifstream in(model_dir(name) / "reference.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    r.pairs.emplace_back(j["query"], j["document"]);
    for (const float x : j["logits"]) r.logits.push_back(x);
    for (const float x : j["scores"]) r.scores.push_back(x);
  }
  return r;
}

EmbedderOptions with_precision(Precision precision) {
  EmbedderOptions options;
  options.precision = precision;
  options.threads = 2;
  return options;
}

class RerankerModels : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { EMBEDRT_REQUIRE_FIXTURE(model_dir(GetParam()) / "reference.jsonl"); }
};

TEST_P(RerankerModels, ScoresAndLogitsMatchCrossEncoderInFp32) {
  const Reference ref = read_reference(GetParam());
  const Reranker reranker =
      Reranker::load(model_dir(GetParam()).string(), with_precision(Precision::kF32));
  const auto scores = reranker.predict(ref.pairs);
  const auto logits = reranker.predict(ref.pairs, /*raw=*/true);
  ASSERT_EQ(scores.size(), ref.scores.size());
  double worst_score = 0, worst_logit = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    worst_score = std::max(worst_score, std::abs(double(scores[i]) - ref.scores[i]));
    worst_logit = std::max(worst_logit, std::abs(double(logits[i]) - ref.logits[i]));
  }
  EXPECT_LE(worst_score, 1e-5);
  EXPECT_LE(worst_logit, 1e-5);
  // One label: CrossEncoder's default sigmoid; several: the logits as they are.
  EXPECT_EQ(reranker.info().activation, reranker.info().labels.size() == 1
                                            ? ScoreActivation::kSigmoid
                                            : ScoreActivation::kIdentity);
}

TEST_P(RerankerModels, APairScoresTheSameAloneAndInABatch) {
  const Reference ref = read_reference(GetParam());
  const Reranker reranker =
      Reranker::load(model_dir(GetParam()).string(), with_precision(Precision::kF32));
  const auto all = reranker.predict(ref.pairs);
  const size_t labels = reranker.info().labels.size();
  for (const size_t i : {size_t{0}, size_t{7}, ref.pairs.size() - 1}) {
    const auto alone = reranker.predict(std::span(&ref.pairs[i], 1));
    for (size_t k = 0; k < labels; ++k) EXPECT_EQ(alone[k], all[i * labels + k]) << "pair " << i;
  }
}

// prepare() + score_batch() (the server's path) give predict()'s raw logits bit for bit, whatever
// the batch, and activate() turns them into predict()'s scores.
TEST_P(RerankerModels, PrepareAndScoreBatchGivePredictsNumbers) {
  const Reference ref = read_reference(GetParam());
  const Reranker reranker =
      Reranker::load(model_dir(GetParam()).string(), with_precision(Precision::kF32));
  const size_t labels = reranker.info().labels.size();
  const std::vector<std::pair<std::string, std::string>> pairs(
      ref.pairs.begin(), ref.pairs.begin() + std::min<size_t>(24, ref.pairs.size()));
  const auto logits = reranker.predict(pairs, /*raw=*/true);
  const auto scores = reranker.predict(pairs);
  std::vector<PreparedText> items = reranker.prepare(pairs);
  ASSERT_EQ(items.size(), pairs.size());
  std::vector<PreparedText*> batch;
  for (size_t i = items.size(); i-- > 0;) batch.push_back(&items[i]);  // reversed order
  const size_t half = batch.size() / 2;
  reranker.score_batch(std::span(batch).first(half));
  reranker.score_batch(std::span(batch).subspan(half));
  for (size_t i = 0; i < items.size(); ++i) {
    ASSERT_EQ(items[i].embedding.size(), labels);
    EXPECT_EQ(items[i].tokens, items[i].encoding.size());
    for (size_t k = 0; k < labels; ++k) EXPECT_EQ(items[i].embedding[k], logits[i * labels + k]);
    reranker.activate(items[i].embedding);
    for (size_t k = 0; k < labels; ++k) EXPECT_EQ(items[i].embedding[k], scores[i * labels + k]);
  }
}

TEST_P(RerankerModels, DetectModelKindTellsRerankerFromClassifier) {
  const Reranker reranker = Reranker::load(model_dir(GetParam()).string());
  EXPECT_EQ(detect_model_kind(model_dir(GetParam()).string()),
            reranker.info().labels.size() == 1 ? ModelKind::kReranker : ModelKind::kClassifier);
}

// Issue gates on ranking: Spearman of the scores against fp32 >= 0.999 (bf16) and 0.99 (int8).
TEST_P(RerankerModels, ReducedPrecisionKeepsTheRanking) {
  const Reference ref = read_reference(GetParam());
  const Reranker fp32 =
      Reranker::load(model_dir(GetParam()).string(), with_precision(Precision::kF32));
  const auto base = fp32.predict(ref.pairs, true);
  for (const auto& [precision, gate] :
       {std::pair{Precision::kBF16, 0.999}, std::pair{Precision::kInt8, 0.99}}) {
    std::string why;
    const auto wanted =
        precision == Precision::kBF16 ? kernels::Precision::kBF16 : kernels::Precision::kInt8;
    if (kernels::resolve_precision(wanted, &why) != wanted) continue;  // the CPU cannot run it
    const Reranker reduced =
        Reranker::load(model_dir(GetParam()).string(), with_precision(precision));
    const auto got = reduced.predict(ref.pairs, true);
    const size_t labels = fp32.info().labels.size();
    for (size_t k = 0; k < labels; ++k) {
      std::vector<double> x, y;
      for (size_t i = 0; i < ref.pairs.size(); ++i) {
        x.push_back(base[i * labels + k]);
        y.push_back(got[i * labels + k]);
      }
      const double rho = testing::spearman(x, y);
      RecordProperty(std::string(to_string(precision)) + "_spearman_label" + std::to_string(k),
                     std::to_string(rho));
      EXPECT_GE(rho, gate) << to_string(precision) << " label " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RerankerModels,
                         ::testing::Values("tiny-bert-ce-1", "tiny-bert-ce-3", "tiny-xlmr-ce-1",
                                           "tiny-xlmr-ce-3", "tiny-modernbert-ce-1",
                                           "tiny-modernbert-mean-ce-1", "tiny-mpnet-ce-1"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

TEST(Reranker, RankSortsBestFirstAndKeepsTopK) {
  EMBEDRT_REQUIRE_FIXTURE(model_dir("tiny-bert-ce-1") / "reference.jsonl");
  const Reranker reranker = Reranker::load(model_dir("tiny-bert-ce-1").string());
  const std::vector<std::string> docs{"A man is eating food.", "A cat sleeps.", "",
                                      "Someone eats."};
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& d : docs) pairs.emplace_back("Who eats?", d);
  const auto scores = reranker.predict(pairs);
  const auto ranked = reranker.rank("Who eats?", docs);
  ASSERT_EQ(ranked.size(), docs.size());
  for (size_t k = 0; k < ranked.size(); ++k) {
    EXPECT_EQ(ranked[k].score, scores[ranked[k].index]);
    if (k > 0) {
      EXPECT_GE(ranked[k - 1].score, ranked[k].score);
    }
  }
  const auto top = reranker.rank("Who eats?", docs, 2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].index, ranked[0].index);
  EXPECT_TRUE(reranker.rank("Who eats?", {}).empty());
}

TEST(Reranker, RankOnASeveralLabelModelAndAnEmbeddingModelAreOneLineErrors) {
  EMBEDRT_REQUIRE_FIXTURE(model_dir("tiny-xlmr-ce-3") / "reference.jsonl");
  const Reranker three = Reranker::load(model_dir("tiny-xlmr-ce-3").string());
  const std::vector<std::string> docs{"a"};
  try {
    three.rank("q", docs);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "rank needs a one-label model; this one has 3 labels (use predict)");
  }
  const auto embedding_model = testing::test_data_dir() / "family-models" / "tiny-xlm-roberta";
  if (std::filesystem::exists(embedding_model)) {
    try {
      Reranker::load(embedding_model.string());
      FAIL() << "expected an error";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("classifier.dense.weight"), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
}

}  // namespace
}  // namespace embedrt
