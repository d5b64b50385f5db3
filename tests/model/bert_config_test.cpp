#include "model/bert_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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
    parse_bert_config(config.dump(), "config.json");
    FAIL() << "expected an error naming " << field;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.code(), code) << msg;
    EXPECT_EQ(msg.rfind("config.json: " + field, 0), 0u) << msg;
  }
}

TEST(BertConfig, ParsesMiniLM) {
  const BertConfig c = parse_bert_config(minilm().dump(), "config.json");
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

TEST(BertConfig, MapsActivations) {
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
    EXPECT_EQ(parse_bert_config(j.dump(), "config.json").hidden_act, act) << name;
  }
}

TEST(BertConfig, AcceptsBertForHeads) {
  auto j = minilm();
  j["architectures"] = {"BertForMaskedLM"};
  EXPECT_NO_THROW(parse_bert_config(j.dump(), "config.json"));
}

TEST(BertConfig, RejectsOtherArchitectures) {
  auto j = minilm();
  j["model_type"] = "xlm-roberta";
  expect_error(j, ErrorCode::kUnsupported, "model_type");
  j = minilm();
  j["architectures"] = {"RobertaModel"};
  expect_error(j, ErrorCode::kUnsupported, "architectures");
  j = minilm();
  j.erase("model_type");
  expect_error(j, ErrorCode::kUnsupported, "model_type");
}

TEST(BertConfig, RejectsUnsupportedFeatures) {
  auto j = minilm();
  j["hidden_act"] = "mish";
  expect_error(j, ErrorCode::kUnsupported, "hidden_act");
  j = minilm();
  j["position_embedding_type"] = "relative_key";
  expect_error(j, ErrorCode::kUnsupported, "position_embedding_type");
}

TEST(BertConfig, RejectsBadFields) {
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

TEST(BertConfig, InvalidJsonNamesTheFile) {
  try {
    parse_bert_config("{", "config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
    EXPECT_EQ(std::string(e.what()).rfind("config.json: invalid JSON", 0), 0u) << e.what();
  }
}

TEST(BertConfig, NumberTooLargeForADoubleIsInvalidJson) {
  // nlohmann::json throws out_of_range, not parse_error, for a number it cannot hold.
  std::string text = minilm().dump();
  text.insert(1, R"("layer_norm_eps": 1e400, )");
  try {
    parse_bert_config(text, "config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
    EXPECT_EQ(std::string(e.what()).rfind("config.json: invalid JSON", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace embedrt::model
