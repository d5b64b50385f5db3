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
              "modernbert, roberta, xlm-roberta)");
  }
  EXPECT_EQ(supported_model_types(), (std::vector<std::string>{"bert", "distilbert", "modernbert",
                                                               "roberta", "xlm-roberta"}));
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

// ModernBERT-base's config.json as published (transformers 4.x field names).
nlohmann::json modernbert() {
  return nlohmann::json::parse(R"({
    "architectures": ["ModernBertForMaskedLM"], "attention_bias": false, "classifier_pooling": "mean",
    "global_attn_every_n_layers": 3, "global_rope_theta": 160000.0, "hidden_activation": "gelu",
    "hidden_size": 768, "intermediate_size": 1152, "layer_norm_eps": 1e-05, "local_attention": 128,
    "local_rope_theta": 10000.0, "max_position_embeddings": 8192, "mlp_bias": false,
    "model_type": "modernbert", "norm_bias": false, "norm_eps": 1e-05, "num_attention_heads": 12,
    "num_hidden_layers": 22, "pad_token_id": 50283, "position_embedding_type": "absolute",
    "vocab_size": 50368})");
}

TEST(TransformerSpec, ModernBertIsPreNormRotaryGatedWithWindows) {
  const TransformerSpec c = parse_transformer_spec(modernbert().dump(), "config.json");
  EXPECT_EQ(c.model_type, "modernbert");
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.intermediate_size, 1152);
  EXPECT_EQ(c.num_hidden_layers, 22);
  EXPECT_EQ(c.hidden_act, Activation::kGeluErf);
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-5);
  EXPECT_EQ(c.type_vocab_size, 0);
  EXPECT_EQ(c.position, PositionKind::kRotary);
  EXPECT_EQ(c.rotary.dim, 64);
  EXPECT_DOUBLE_EQ(c.rotary.base, 160000.0);
  EXPECT_DOUBLE_EQ(c.rotary.local_base, 10000.0);
  EXPECT_FALSE(c.rotary.interleaved);
  EXPECT_EQ(c.max_sequence_length(), 8192);
  EXPECT_EQ(c.norm_placement, NormPlacement::kPre);
  EXPECT_FALSE(c.first_layer_attention_norm);
  EXPECT_FALSE(c.norm_bias);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_EQ(c.mlp, MlpKind::kGated);
  EXPECT_TRUE(c.gate_activated_first);
  EXPECT_EQ(c.local_window, 64);
  EXPECT_EQ(c.global_attention_every, 3);
  for (int64_t l = 0; l < 22; ++l) EXPECT_EQ(c.layer_is_local(l), l % 3 != 0) << l;
  EXPECT_EQ(c.names.word_embeddings, "embeddings.tok_embeddings.weight");
  EXPECT_EQ(c.names.qkv, "attn.Wqkv");
  EXPECT_EQ(c.names.ffn_up, "mlp.Wi");
  EXPECT_EQ(c.names.final_norm, "final_norm");
  EXPECT_TRUE(c.names.position_embeddings.empty());
}

TEST(TransformerSpec, ModernBertReadsTransformers5Fields) {
  // What transformers 5 writes: layer_types and per-kind rope_parameters, which win over the
  // older fields when both are present; norm_eps, not layer_norm_eps.
  auto j = modernbert();
  j["num_hidden_layers"] = 4;
  j["layer_types"] = {"full_attention", "sliding_attention", "full_attention", "sliding_attention"};
  j["rope_parameters"] = {{"full_attention", {{"rope_theta", 1000.0}, {"rope_type", "default"}}},
                          {"sliding_attention", {{"rope_theta", 20.0}, {"rope_type", "default"}}}};
  j["norm_eps"] = 1e-6;
  j["layer_norm_eps"] = 0.5;
  j["hidden_activation"] = "gelu_pytorch_tanh";
  j["norm_bias"] = j["attention_bias"] = j["mlp_bias"] = true;
  j["local_attention"] = 8;
  const TransformerSpec c = parse_transformer_spec(j.dump(), "config.json");
  EXPECT_EQ(c.global_attention_every, 2);
  EXPECT_EQ(c.local_window, 4);
  EXPECT_DOUBLE_EQ(c.rotary.base, 1000.0);
  EXPECT_DOUBLE_EQ(c.rotary.local_base, 20.0);
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-6);
  EXPECT_EQ(c.hidden_act, Activation::kGeluTanh);
  EXPECT_TRUE(c.norm_bias && c.attention_bias && c.mlp_bias);
  // A kind without rope_theta falls back to the older field, then to transformers' default.
  j["rope_parameters"]["sliding_attention"].erase("rope_theta");
  j["local_rope_theta"] = 30.0;
  EXPECT_DOUBLE_EQ(parse_transformer_spec(j.dump(), "config.json").rotary.local_base, 30.0);
  j.erase("local_rope_theta");
  EXPECT_DOUBLE_EQ(parse_transformer_spec(j.dump(), "config.json").rotary.local_base, 10000.0);
  // Only full attention: no window needed at all.
  j["layer_types"] = {"full_attention", "full_attention", "full_attention", "full_attention"};
  j.erase("local_attention");
  EXPECT_EQ(parse_transformer_spec(j.dump(), "config.json").local_window, 0);
  j = modernbert();
  j.erase("layer_norm_eps");
  j.erase("norm_eps");
  j.erase("global_rope_theta");
  j.erase("global_attn_every_n_layers");
  const TransformerSpec d = parse_transformer_spec(j.dump(), "config.json");  // the defaults
  EXPECT_DOUBLE_EQ(d.layer_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(d.rotary.base, 160000.0);
  EXPECT_EQ(d.global_attention_every, 3);
}

TEST(TransformerSpec, ModernBertRejectsBadFields) {
  auto j = modernbert();
  j.erase("local_attention");
  expect_error(j, ErrorCode::kInvalidModel, "local_attention: missing");
  j = modernbert();
  j["local_attention"] = 127;
  expect_error(j, ErrorCode::kInvalidModel, "local_attention: 127 is odd");
  j = modernbert();
  j["local_attention"] = 0;
  expect_error(j, ErrorCode::kInvalidModel, "local_attention");
  j = modernbert();
  j["hidden_activation"] = "mish";
  expect_error(j, ErrorCode::kUnsupported, "hidden_activation: 'mish' is not supported");
  j = modernbert();
  j["global_attn_every_n_layers"] = 0;
  expect_error(j, ErrorCode::kInvalidModel, "global_attn_every_n_layers");
  j = modernbert();
  j["num_hidden_layers"] = 3;
  j["layer_types"] = {"full_attention", "sliding_attention"};
  expect_error(j, ErrorCode::kInvalidModel, "layer_types");
  j["layer_types"] = {"full_attention", "sliding_attention", "chunked_attention"};
  expect_error(j, ErrorCode::kUnsupported, "layer_types");
  j["layer_types"] = {"sliding_attention", "full_attention", "full_attention"};
  expect_error(j, ErrorCode::kUnsupported, "layer_types: layer 0");
  j["layer_types"] = {"full_attention", "sliding_attention", "sliding_attention", "full_attention",
                      "full_attention"};
  j["num_hidden_layers"] = 5;
  expect_error(j, ErrorCode::kUnsupported, "layer_types: layer 4");
  j = modernbert();
  j["global_rope_theta"] = 0;
  expect_error(j, ErrorCode::kInvalidModel, "global_rope_theta");
  j = modernbert();
  j["rope_parameters"] = {{"sliding_attention", {{"rope_theta", "big"}}}};
  expect_error(j, ErrorCode::kInvalidModel, "rope_parameters.sliding_attention.rope_theta");
  j["rope_parameters"] = {{"full_attention", {{"rope_type", "yarn"}, {"rope_theta", 1.0}}}};
  expect_error(j, ErrorCode::kUnsupported, "rope_parameters.full_attention.rope_type");
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1.0}};
  expect_error(j, ErrorCode::kUnsupported, "rope_parameters");
  j = modernbert();
  j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.0}};
  expect_error(j, ErrorCode::kUnsupported, "rope_scaling");
  j = modernbert();
  j["num_attention_heads"] = 7;
  expect_error(j, ErrorCode::kInvalidModel, "num_attention_heads");
  j = modernbert();
  j["norm_bias"] = "yes";
  expect_error(j, ErrorCode::kInvalidModel, "norm_bias");
  j = modernbert();
  j["architectures"] = {"BertModel"};
  expect_error(j, ErrorCode::kUnsupported, "architectures");
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
