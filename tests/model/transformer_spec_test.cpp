#include "model/transformer_spec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "embedrt/error.h"

namespace embedrt::model {
namespace {

using kernels::Activation;

nlohmann::json minilm() {
  return nlohmann::json::parse(R"({
    "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
    "hidden_size": 384, "intermediate_size": 1536, "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512, "num_attention_heads": 12, "num_hidden_layers": 6,
    "position_embedding_type": "absolute", "type_vocab_size": 2, "vocab_size": 30522})");
}

void expect_error(const nlohmann::json& config, ErrorCode code, const std::string& field) {
  try {
    parse_transformer_spec(config.dump(), "config.json");
    FAIL() << "expected an error naming " << field;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.code(), code) << msg;
    EXPECT_EQ(msg.rfind("config.json: " + field, 0), 0u) << msg;
  }
}

TEST(TransformerSpec, ParsesMiniLM) {
  const TransformerSpec c = parse_transformer_spec(minilm().dump(), "config.json");
  EXPECT_EQ(c.hidden_size, 384);
  EXPECT_EQ(c.num_attention_heads, 12);
  EXPECT_EQ(c.head_dim(), 32);
  EXPECT_EQ(c.num_hidden_layers, 6);
  EXPECT_EQ(c.intermediate_size, 1536);
  EXPECT_EQ(c.hidden_act, Activation::kGeluErf);
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-12);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_EQ(c.type_vocab_size, 2);
  EXPECT_EQ(c.vocab_size, 30522);
}

TEST(TransformerSpec, MapsActivations) {
  const std::pair<const char*, Activation> cases[] = {{"gelu", Activation::kGeluErf},
                                                      {"gelu_new", Activation::kGeluTanh},
                                                      {"gelu_pytorch_tanh", Activation::kGeluTanh},
                                                      {"gelu_fast", Activation::kGeluTanh},
                                                      {"relu", Activation::kRelu},
                                                      {"silu", Activation::kSilu},
                                                      {"swish", Activation::kSilu}};
  for (const auto& [name, act] : cases) {
    auto j = minilm();
    j["hidden_act"] = name;
    EXPECT_EQ(parse_transformer_spec(j.dump(), "config.json").hidden_act, act) << name;
  }
}

TEST(TransformerSpec, AcceptsBertForHeads) {
  auto j = minilm();
  j["architectures"] = {"BertForMaskedLM"};
  EXPECT_NO_THROW(parse_transformer_spec(j.dump(), "config.json"));
}

TEST(TransformerSpec, RejectsOtherArchitectures) {
  auto j = minilm();
  j["model_type"] = "xlm-roberta";  // the fields fit, the architecture does not
  expect_error(j, ErrorCode::kUnsupported, "architectures");
  j = minilm();
  j["architectures"] = {"RobertaModel"};
  expect_error(j, ErrorCode::kUnsupported, "architectures");
  j = minilm();
  j.erase("model_type");
  expect_error(j, ErrorCode::kUnsupported, "model_type");
}

TEST(TransformerSpec, UnknownModelTypeListsTheSupportedOnes) {
  auto j = minilm();
  j["model_type"] = "gpt2";
  try {
    parse_transformer_spec(j.dump(), "config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_EQ(std::string(e.what()),
              "config.json: model_type: 'gpt2' is not supported (supported: bert, distilbert, "
              "mpnet, roberta, xlm-roberta)");
  }
  EXPECT_EQ(supported_model_types(),
            (std::vector<std::string>{"bert", "distilbert", "mpnet", "roberta", "xlm-roberta"}));
}

TEST(TransformerSpec, BertIsPlainAbsolutePostNorm) {
  const TransformerSpec c = parse_transformer_spec(minilm().dump(), "config.json");
  EXPECT_EQ(c.model_type, "bert");
  EXPECT_EQ(c.position_offset, 0);
  EXPECT_EQ(c.position_pad_id, -1);
  EXPECT_EQ(c.max_sequence_length(), 512);
  EXPECT_EQ(c.names.layer, "encoder.layer.");
  EXPECT_EQ(c.names.token_type_embeddings, "embeddings.token_type_embeddings.weight");
}

nlohmann::json xlm_roberta() {
  return nlohmann::json::parse(R"({
    "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta", "hidden_act": "gelu",
    "hidden_size": 768, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
    "max_position_embeddings": 514, "num_attention_heads": 12, "num_hidden_layers": 12,
    "pad_token_id": 1, "position_embedding_type": "absolute", "type_vocab_size": 1,
    "vocab_size": 250002})");
}

TEST(TransformerSpec, XlmRobertaPositionsStartPastThePadId) {
  const TransformerSpec c = parse_transformer_spec(xlm_roberta().dump(), "config.json");
  EXPECT_EQ(c.model_type, "xlm-roberta");
  EXPECT_EQ(c.position_pad_id, 1);
  EXPECT_EQ(c.position_offset, 2);
  EXPECT_EQ(c.max_sequence_length(), 512);
  EXPECT_EQ(c.type_vocab_size, 1);
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-5);
  auto j = xlm_roberta();
  j["model_type"] = "roberta";
  j["architectures"] = {"RobertaForMaskedLM"};
  EXPECT_EQ(parse_transformer_spec(j.dump(), "config.json").model_type, "roberta");
  j = xlm_roberta();
  j["max_position_embeddings"] = 2;
  expect_error(j, ErrorCode::kInvalidModel, "max_position_embeddings");
  j = xlm_roberta();
  j["pad_token_id"] = -1;
  expect_error(j, ErrorCode::kInvalidModel, "pad_token_id");
}

nlohmann::json distilbert() {
  return nlohmann::json::parse(R"({
    "activation": "gelu", "architectures": ["DistilBertForMaskedLM"], "dim": 768,
    "hidden_dim": 3072, "max_position_embeddings": 512, "model_type": "distilbert",
    "n_heads": 12, "n_layers": 6, "pad_token_id": 0, "sinusoidal_pos_embds": false,
    "vocab_size": 30522})");
}

TEST(TransformerSpec, DistilBertReadsItsOwnFieldNames) {
  const TransformerSpec c = parse_transformer_spec(distilbert().dump(), "config.json");
  EXPECT_EQ(c.model_type, "distilbert");
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.intermediate_size, 3072);
  EXPECT_EQ(c.num_hidden_layers, 6);
  EXPECT_EQ(c.num_attention_heads, 12);
  EXPECT_EQ(c.hidden_act, Activation::kGeluErf);
  EXPECT_EQ(c.type_vocab_size, 0);
  EXPECT_TRUE(c.names.token_type_embeddings.empty());
  EXPECT_EQ(c.names.query, "attention.q_lin");
  auto j = distilbert();
  j["activation"] = "relu";
  EXPECT_EQ(parse_transformer_spec(j.dump(), "config.json").hidden_act, Activation::kRelu);
  j = distilbert();
  j["sinusoidal_pos_embds"] = true;
  expect_error(j, ErrorCode::kUnsupported, "sinusoidal_pos_embds");
  j = distilbert();
  j["n_heads"] = 7;
  expect_error(j, ErrorCode::kInvalidModel, "n_heads");
  j = distilbert();
  j.erase("dim");
  expect_error(j, ErrorCode::kInvalidModel, "dim");
  j = distilbert();
  j["architectures"] = {"BertModel"};
  expect_error(j, ErrorCode::kUnsupported, "architectures");
}

// all-mpnet-base-v2's config.json.
nlohmann::json mpnet() {
  return nlohmann::json::parse(R"({
    "architectures": ["MPNetForMaskedLM"], "attention_probs_dropout_prob": 0.1, "bos_token_id": 0,
    "eos_token_id": 2, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768,
    "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
    "max_position_embeddings": 514, "model_type": "mpnet", "num_attention_heads": 12,
    "num_hidden_layers": 12, "pad_token_id": 1, "relative_attention_num_buckets": 32,
    "vocab_size": 30527})");
}

TEST(TransformerSpec, MpnetHasRelativeBiasAndPositionsFromTwo) {
  const TransformerSpec c = parse_transformer_spec(mpnet().dump(), "config.json");
  EXPECT_EQ(c.model_type, "mpnet");
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.num_hidden_layers, 12);
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-5);
  EXPECT_EQ(c.type_vocab_size, 0);
  EXPECT_TRUE(c.names.token_type_embeddings.empty());
  EXPECT_EQ(c.position_pad_id, 1);
  EXPECT_EQ(c.position_offset, 2);
  EXPECT_EQ(c.max_sequence_length(), 512);
  EXPECT_EQ(c.relative_attention_num_buckets, 32);
  EXPECT_EQ(c.relative_attention_max_distance, 128);
  EXPECT_EQ(c.names.relative_attention_bias, "encoder.relative_attention_bias.weight");
  EXPECT_EQ(c.names.query, "attention.attn.q");
  EXPECT_EQ(c.names.attention_output, "attention.attn.o");
  EXPECT_EQ(c.names.attention_norm, "attention.LayerNorm");
  // transformers' MPNet counts positions from padding_idx 1 whatever pad_token_id says.
  auto j = mpnet();
  j["pad_token_id"] = 0;
  EXPECT_EQ(parse_transformer_spec(j.dump(), "config.json").position_offset, 2);
  j = mpnet();
  j["architectures"] = {"MPNetModel"};
  EXPECT_NO_THROW(parse_transformer_spec(j.dump(), "config.json"));
  // Other families have no relative bias.
  EXPECT_EQ(parse_transformer_spec(minilm().dump(), "config.json").relative_attention_num_buckets,
            0);
}

TEST(TransformerSpec, MpnetRejectsBadFields) {
  auto j = mpnet();
  j.erase("relative_attention_num_buckets");
  expect_error(j, ErrorCode::kInvalidModel, "relative_attention_num_buckets");
  j = mpnet();
  j["relative_attention_num_buckets"] = 0;
  expect_error(j, ErrorCode::kInvalidModel, "relative_attention_num_buckets");
  j = mpnet();
  j["relative_attention_num_buckets"] = 64;
  expect_error(j, ErrorCode::kUnsupported, "relative_attention_num_buckets");
  j = mpnet();
  j["max_position_embeddings"] = 2;
  expect_error(j, ErrorCode::kInvalidModel, "max_position_embeddings");
  j = mpnet();
  j["num_attention_heads"] = 7;
  expect_error(j, ErrorCode::kInvalidModel, "num_attention_heads");
  j = mpnet();
  j["architectures"] = {"BertModel"};
  expect_error(j, ErrorCode::kUnsupported, "architectures");
}

// The buckets transformers' MPNetEncoder.relative_position_bucket gives (32 buckets, max distance
// 128), mathematically: below 8 one bucket per distance; from 8 on, 8 + floor(2 log2(n / 8)),
// i.e. the largest k with 64 * 2^k <= n^2, at most 15; keys after the query 16 buckets up. The
// float log must land on the same side at the exact powers (n = 16, 32, 64: 10, 12, 14 in
// PyTorch, checked there).
TEST(TransformerSpec, RelativePositionBucketsMatchTransformers) {
  const auto exact = [](int64_t relative_position) {
    const int64_t n = relative_position < 0 ? -relative_position : relative_position;
    int64_t bucket = n;
    if (n >= 8) {
      int64_t k = 0;
      while (k < 7 && (int64_t(64) << (k + 1)) <= n * n) ++k;
      bucket = 8 + k;
    }
    return (relative_position > 0 ? 16 : 0) + bucket;
  };
  for (int64_t rp = -4096; rp <= 4096; ++rp) {
    ASSERT_EQ(relative_position_bucket(rp, 32, 128), exact(rp)) << rp;
  }
  EXPECT_EQ(relative_position_bucket(-16, 32, 128), 10);
  EXPECT_EQ(relative_position_bucket(-64, 32, 128), 14);
  EXPECT_EQ(relative_position_bucket(16, 32, 128), 26);
  EXPECT_EQ(relative_position_bucket(32, 32, 128), 28);
  EXPECT_EQ(relative_position_bucket(127, 32, 128), 31);
  EXPECT_EQ(relative_position_bucket(0, 32, 128), 0);
}

TEST(TransformerSpec, RejectsUnsupportedFeatures) {
  auto j = minilm();
  j["hidden_act"] = "mish";
  expect_error(j, ErrorCode::kUnsupported, "hidden_act");
  j = minilm();
  j["position_embedding_type"] = "relative_key";
  expect_error(j, ErrorCode::kUnsupported, "position_embedding_type");
}

TEST(TransformerSpec, RejectsBadFields) {
  auto j = minilm();
  j["num_attention_heads"] = 5;
  expect_error(j, ErrorCode::kInvalidModel, "num_attention_heads");
  j = minilm();
  j.erase("hidden_size");
  expect_error(j, ErrorCode::kInvalidModel, "hidden_size");
  j = minilm();
  j["num_hidden_layers"] = "six";
  expect_error(j, ErrorCode::kInvalidModel, "num_hidden_layers");
  j = minilm();
  j["intermediate_size"] = -4;
  expect_error(j, ErrorCode::kInvalidModel, "intermediate_size");
  j = minilm();
  j["layer_norm_eps"] = "small";
  expect_error(j, ErrorCode::kInvalidModel, "layer_norm_eps");
  j = minilm();
  j["hidden_act"] = 3;
  expect_error(j, ErrorCode::kInvalidModel, "hidden_act");
}

TEST(TransformerSpec, InvalidJsonNamesTheFile) {
  try {
    parse_transformer_spec("{", "config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
    EXPECT_EQ(std::string(e.what()).rfind("config.json: invalid JSON", 0), 0u) << e.what();
  }
}

TEST(TransformerSpec, NumberTooLargeForADoubleIsInvalidJson) {
  // nlohmann::json throws out_of_range, not parse_error, for a number it cannot hold.
  std::string text = minilm().dump();
  text.insert(1, R"("layer_norm_eps": 1e400, )");
  try {
    parse_transformer_spec(text, "config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
    EXPECT_EQ(std::string(e.what()).rfind("config.json: invalid JSON", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace embedrt::model
