// Cross-encoders at the model level: pair tokenization, the encoder and the classification head
// against sentence-transformers' CrossEncoder on tiny random BERT and XLM-RoBERTa rerankers (one
// and three labels, CrossEncoder and plain Hugging Face folders), ModernBERT (cls and mean pooling,
// sliding-window layers) and MPNet ones, made by
// scripts/make_reranker_models.py with CrossEncoder's ids, raw logits and default scores.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "embedrt/error.h"
#include "model/classifier_head.h"
#include "model/json_file.h"
#include "model/safetensors.h"
#include "model/transformer_encoder.h"
#include "model/transformer_weights.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"

namespace embedrt {
namespace {

struct Reference {
  std::string query, document;
  std::vector<int32_t> ids, type_ids;
  std::vector<float> logits, scores;
};

std::vector<Reference> read_reference(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<Reference> out;
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    out.push_back({j["query"], j["document"], j["ids"], j["type_ids"], j["logits"], j["scores"]});
  }
  return out;
}

class RerankerParity : public ::testing::TestWithParam<std::string> {};

TEST_P(RerankerParity, TokensLogitsAndScoresMatchCrossEncoder) {
  const auto dir = testing::test_data_dir() / "reranker-models" / GetParam();
  EMBEDRT_REQUIRE_FIXTURE(dir / "reference.jsonl");
  const auto reference = read_reference(dir / "reference.jsonl");
  ASSERT_GE(reference.size(), 200u);

  const std::string config_text = model::read_text_file(dir / "config.json");
  const model::TransformerSpec spec = model::parse_transformer_spec(config_text, "config.json");
  const model::SafeTensorsFile file(dir / "model.safetensors");
  const std::string prefix = model::detect_encoder_prefix(file, spec);
  const model::ClassifierHead head(model::parse_classifier_head(config_text, "config.json", spec),
                                   spec, file, prefix);
  const model::TransformerEncoder encoder(spec, model::load_transformer_weights(file, spec));
  const size_t labels = size_t(head.spec().num_labels());
  ASSERT_EQ(reference.front().logits.size(), labels);

  // CrossEncoder truncates pairs to the tokenizer's model_max_length (96 in these fixtures).
  const auto tokenizer = tokenizer::Tokenizer::from_file(dir / "tokenizer.json")
                             .with_truncation({96, tokenizer::TruncationSide::kRight});
  std::vector<int32_t> ids, type_ids, offsets{0};
  for (const Reference& r : reference) {
    const Encoding e = tokenizer.encode_pair(r.query, r.document);
    ASSERT_EQ(e.ids, r.ids) << "query: " << r.query << "\ndocument: " << r.document;
    // Models without token types get zeros from CrossEncoder; RoBERTa's template gives zeros too.
    // MPNet has no type embeddings, so its tokenizer's types never reach it (the reference: zeros).
    if (spec.model_type != "mpnet") {
      ASSERT_EQ(e.type_ids, r.type_ids) << "query: " << r.query;
    }
    ids.insert(ids.end(), e.ids.begin(), e.ids.end());
    type_ids.insert(type_ids.end(), e.type_ids.begin(), e.type_ids.end());
    offsets.push_back(int32_t(ids.size()));
  }
  model::Workspace workspace;
  const auto hidden = encoder.forward({ids, type_ids, offsets}, workspace);
  std::vector<float> logits(reference.size() * labels);
  head.forward(hidden, offsets, logits.data());

  double max_logit_diff = 0, max_score_diff = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    for (size_t k = 0; k < labels; ++k) {
      const float logit = logits[i * labels + k];
      // CrossEncoder's default activation: sigmoid for one label, none for several.
      const double score = labels == 1 ? 1.0 / (1.0 + std::exp(-double(logit))) : logit;
      max_logit_diff = std::max(max_logit_diff, std::abs(double(logit) - reference[i].logits[k]));
      max_score_diff = std::max(max_score_diff, std::abs(score - reference[i].scores[k]));
    }
  }
  EXPECT_LE(max_logit_diff, 1e-5);
  EXPECT_LE(max_score_diff, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Models, RerankerParity,
                         ::testing::Values("tiny-bert-ce-1", "tiny-bert-ce-3", "tiny-xlmr-ce-1",
                                           "tiny-xlmr-ce-3", "tiny-modernbert-ce-1",
                                           "tiny-modernbert-mean-ce-1", "tiny-mpnet-ce-1"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

TEST(ClassifierHead, LabelFieldsThatContradictEachOtherAreOneLineErrors) {
  model::TransformerSpec bert;
  bert.model_type = "bert";
  try {
    model::parse_classifier_head(R"({"num_labels": 2, "id2label": {"0": "a", "1": "b", "2": "c"}})",
                                 "config.json", bert);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "config.json: num_labels: 2 contradicts id2label's 3 labels");
  }
  model::TransformerSpec gte;
  gte.model_type = "new";
  EXPECT_THROW(model::parse_classifier_head("{}", "config.json", gte), Error);
  // transformers' default is two labels.
  EXPECT_EQ(model::parse_classifier_head("{}", "config.json", bert).num_labels(), 2);
}

TEST(ClassifierHead, ModernBertOptionsComeFromConfigAndBadOnesNameTheField) {
  model::TransformerSpec modernbert;
  modernbert.model_type = "modernbert";
  modernbert.norm_bias = false;
  modernbert.layer_norm_eps = 1e-6;
  const auto defaults = model::parse_classifier_head("{}", "config.json", modernbert);
  EXPECT_EQ(defaults.pooling, model::HeadPooling::kFirst);
  EXPECT_EQ(defaults.activation, model::HeadActivation::kGeluErf);
  EXPECT_FALSE(defaults.dense_bias);
  EXPECT_EQ(defaults.norm, "head.norm");
  EXPECT_FALSE(defaults.norm_bias);
  EXPECT_EQ(defaults.norm_eps, 1e-6);
  const auto mean = model::parse_classifier_head(
      R"({"classifier_pooling": "mean", "classifier_bias": true, "classifier_activation": "silu"})",
      "config.json", modernbert);
  EXPECT_EQ(mean.pooling, model::HeadPooling::kMean);
  EXPECT_EQ(mean.activation, model::HeadActivation::kSilu);
  EXPECT_TRUE(mean.dense_bias);
  for (const auto& [json, message] : std::vector<std::pair<std::string, std::string>>{
           {R"({"classifier_pooling": "max"})",
            "config.json: classifier_pooling: 'max' is not supported (expected cls or mean)"},
           {R"({"classifier_bias": 1})",
            "config.json: classifier_bias: expected a boolean, found 1"},
           {R"({"classifier_activation": "mish"})",
            "config.json: classifier_activation: 'mish' is not supported (expected gelu, gelu_new, "
            "gelu_pytorch_tanh, gelu_fast, relu, silu or swish)"}}) {
    try {
      model::parse_classifier_head(json, "config.json", modernbert);
      ADD_FAILURE() << "expected an error for " << json;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), message);
    }
  }
}

}  // namespace
}  // namespace embedrt
