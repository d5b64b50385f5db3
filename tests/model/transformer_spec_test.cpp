#include "model/transformer_spec.h"

#include <gtest/gtest.h>

#include <cmath>
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
              "gemma3_text, gte, modernbert, mpnet, new, nomic_bert, qwen3, roberta, "
              "xlm-roberta)");
  }
  EXPECT_EQ(
      supported_model_types(),
      (std::vector<std::string>{"bert", "distilbert", "gemma3_text", "gte", "modernbert", "mpnet",
                                "new", "nomic_bert", "qwen3", "roberta", "xlm-roberta"}));
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

// nomic-ai/nomic-embed-text-v1.5's config.json: nomic's remote-code form (a GPT2Config).
nlohmann::json nomic_embed_text() {
  return nlohmann::json::parse(R"({
    "activation_function": "swiglu", "architectures": ["NomicBertModel"], "attn_pdrop": 0.0,
    "auto_map": {"AutoConfig": "nomic-ai/nomic-bert-2048--configuration_hf_nomic_bert.NomicBertConfig",
                 "AutoModel": "nomic-ai/nomic-bert-2048--modeling_hf_nomic_bert.NomicBertModel"},
    "bos_token_id": null, "causal": false, "dense_seq_output": true, "embd_pdrop": 0.0,
    "eos_token_id": null, "fused_bias_fc": true, "fused_dropout_add_ln": true,
    "initializer_range": 0.02, "layer_norm_epsilon": 1e-12, "max_trained_positions": 2048,
    "mlp_fc1_bias": false, "mlp_fc2_bias": false, "model_type": "nomic_bert", "n_embd": 768,
    "n_head": 12, "n_inner": 3072, "n_layer": 12, "n_positions": 8192,
    "pad_vocab_size_multiple": 64, "parallel_block": false, "parallel_block_tied_norm": false,
    "prenorm": false, "qkv_proj_bias": false, "reorder_and_upcast_attn": false,
    "resid_pdrop": 0.0, "rotary_emb_base": 1000, "rotary_emb_fraction": 1.0,
    "rotary_emb_interleaved": false, "rotary_emb_scale_base": null,
    "rotary_scaling_factor": null, "scale_attn_by_inverse_layer_idx": false,
    "scale_attn_weights": true, "summary_activation": null, "summary_first_dropout": 0.0,
    "summary_proj_to_labels": true, "summary_type": "cls_index", "summary_use_proj": true,
    "torch_dtype": "float32", "transformers_version": "4.34.0", "type_vocab_size": 2,
    "use_cache": true, "use_flash_attn": true, "use_rms_norm": false, "use_xentropy": true,
    "vocab_size": 30528})");
}

// The same model as transformers 5's NomicBertConfig writes it.
nlohmann::json nomic_bert_hf() {
  return nlohmann::json::parse(R"({
    "architectures": ["NomicBertModel"], "attention_probs_dropout_prob": 0.0, "head_dim": 64,
    "hidden_act": "silu", "hidden_dropout_prob": 0.0, "hidden_size": 768,
    "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-12,
    "max_position_embeddings": 8192, "model_type": "nomic_bert", "num_attention_heads": 12,
    "num_hidden_layers": 12, "pad_token_id": 0,
    "rope_parameters": {"rope_theta": 1000.0, "rope_type": "default"},
    "transformers_version": "5.24.0", "type_vocab_size": 2, "vocab_size": 30528})");
}

void expect_nomic_embed_text(const TransformerSpec& c) {
  EXPECT_EQ(c.model_type, "nomic_bert");
  EXPECT_EQ(c.vocab_size, 30528);
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.num_hidden_layers, 12);
  EXPECT_EQ(c.num_attention_heads, 12);
  EXPECT_EQ(c.intermediate_size, 3072);
  EXPECT_EQ(c.hidden_act, Activation::kSilu);
  EXPECT_EQ(c.mlp, MlpKind::kGated);
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-12);
  EXPECT_EQ(c.max_position_embeddings, 8192);
  EXPECT_EQ(c.max_sequence_length(), 8192);
  EXPECT_EQ(c.type_vocab_size, 2);
  EXPECT_EQ(c.position, PositionKind::kRotary);
  EXPECT_EQ(c.rotary.dim, 64);
  EXPECT_DOUBLE_EQ(c.rotary.base, 1000.0);
  EXPECT_DOUBLE_EQ(c.rotary.inv_freq_divisor, 1.0);
  EXPECT_FALSE(c.rotary.interleaved);
  EXPECT_EQ(c.norm_placement, NormPlacement::kPost);
  EXPECT_TRUE(c.norm_bias);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_FALSE(c.has_mlp_down_bias());
  EXPECT_EQ(c.names.embedding_norm, "emb_ln");
  EXPECT_EQ(c.names.layer, "encoder.layers.");
  EXPECT_EQ(c.names.qkv, "attn.Wqkv");
  EXPECT_EQ(c.names.ffn_gate, "mlp.fc12");  // y = fc11(x) * silu(fc12(x))
  EXPECT_EQ(c.names.ffn_up, "mlp.fc11");
  EXPECT_EQ(c.names.ffn_down, "mlp.fc2");
  EXPECT_TRUE(c.names.position_embeddings.empty());
}

TEST(TransformerSpec, NomicBertInBothConfigForms) {
  expect_nomic_embed_text(parse_transformer_spec(nomic_embed_text().dump(), "config.json"));
  expect_nomic_embed_text(parse_transformer_spec(nomic_bert_hf().dump(), "config.json"));
  auto j = nomic_bert_hf();
  j.erase("rope_parameters");  // transformers' default theta for NomicBERT
  EXPECT_DOUBLE_EQ(parse_transformer_spec(j.dump(), "config.json").rotary.base, 1000.0);
  j["rope_theta"] = 5000;  // the legacy top-level field
  EXPECT_DOUBLE_EQ(parse_transformer_spec(j.dump(), "config.json").rotary.base, 5000.0);
  j = nomic_bert_hf();
  j["hidden_act"] = "gelu";  // transformers' NomicBERT is gated whatever the activation
  const TransformerSpec c = parse_transformer_spec(j.dump(), "config.json");
  EXPECT_EQ(c.hidden_act, Activation::kGeluErf);
  EXPECT_EQ(c.mlp, MlpKind::kGated);
}

TEST(TransformerSpec, NomicBertHubFormVariants) {
  auto j = nomic_embed_text();
  j["vocab_size"] = 30522;  // padded up to pad_vocab_size_multiple
  EXPECT_EQ(parse_transformer_spec(j.dump(), "config.json").vocab_size, 30528);
  j = nomic_embed_text();
  j["rotary_emb_fraction"] = 0.5;
  j["rotary_emb_interleaved"] = true;
  j["rotary_emb_base"] = 10000;
  TransformerSpec c = parse_transformer_spec(j.dump(), "config.json");
  EXPECT_EQ(c.rotary.dim, 32);
  EXPECT_TRUE(c.rotary.interleaved);
  EXPECT_DOUBLE_EQ(c.rotary.base, 10000.0);
  j = nomic_embed_text();
  j["activation_function"] = "geglu";
  j["n_inner"] = 3000;  // the gated MLP rounds up to a multiple of 256
  j["qkv_proj_bias"] = true;
  j["mlp_fc2_bias"] = true;
  c = parse_transformer_spec(j.dump(), "config.json");
  EXPECT_EQ(c.hidden_act, Activation::kGeluErf);
  EXPECT_EQ(c.mlp, MlpKind::kGated);
  EXPECT_EQ(c.intermediate_size, 3072);
  EXPECT_TRUE(c.attention_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_TRUE(c.has_mlp_down_bias());
  j["n_inner"] = nullptr;  // int(8 * 768 / 3) = 2048
  EXPECT_EQ(parse_transformer_spec(j.dump(), "config.json").intermediate_size, 2048);
  j = nomic_embed_text();
  j["activation_function"] = "gelu_new";  // plain fc1 / fc2; the remote code runs erf GELU
  j.erase("n_inner");
  c = parse_transformer_spec(j.dump(), "config.json");
  EXPECT_EQ(c.mlp, MlpKind::kPlain);
  EXPECT_EQ(c.hidden_act, Activation::kGeluErf);
  EXPECT_EQ(c.intermediate_size, 4 * 768);
  EXPECT_EQ(c.names.ffn_up, "mlp.fc1");
  EXPECT_TRUE(c.names.ffn_gate.empty());
  j = nomic_embed_text();
  j["type_vocab_size"] = 0;
  EXPECT_EQ(parse_transformer_spec(j.dump(), "config.json").type_vocab_size, 0);
}

TEST(TransformerSpec, NomicBertRejectsWhatItCannotRun) {
  auto j = nomic_embed_text();
  j.erase("rotary_emb_fraction");  // the remote code's default 0: learned positions
  expect_error(j, ErrorCode::kUnsupported, "rotary_emb_fraction: missing");
  j = nomic_embed_text();
  j["rotary_emb_fraction"] = 0.3;  // 64 * 0.3 = 19.2
  expect_error(j, ErrorCode::kInvalidModel, "rotary_emb_fraction: 0.3 of head dimension 64");
  j = nomic_embed_text();
  j["n_embd"] = 96;
  j["n_head"] = 4;
  j["rotary_emb_fraction"] = 0.125;  // 24 * 0.125 = 3: odd
  expect_error(j, ErrorCode::kInvalidModel, "rotary_emb_fraction");
  j = nomic_embed_text();
  j["rotary_emb_fraction"] = 1.5;
  expect_error(j, ErrorCode::kUnsupported, "rotary_emb_fraction");
  j = nomic_embed_text();
  j["rotary_emb_base"] = -1;
  expect_error(j, ErrorCode::kInvalidModel, "rotary_emb_base");
  j = nomic_embed_text();
  j["activation_function"] = "mish";
  expect_error(j, ErrorCode::kUnsupported, "activation_function: 'mish' is not supported");
  j["activation_function"] = "glu";
  expect_error(j, ErrorCode::kUnsupported, "activation_function");
  j = nomic_embed_text();
  j["prenorm"] = true;
  expect_error(j, ErrorCode::kUnsupported, "prenorm");
  j = nomic_embed_text();
  j["rotary_scaling_factor"] = 2.0;
  expect_error(j, ErrorCode::kUnsupported, "rotary_scaling_factor");
  j = nomic_embed_text();
  j["n_head"] = 7;
  expect_error(j, ErrorCode::kInvalidModel, "n_head");
  j = nomic_embed_text();
  j.erase("n_layer");
  expect_error(j, ErrorCode::kInvalidModel, "n_layer");
  j = nomic_embed_text();
  j["architectures"] = {"BertModel"};
  expect_error(j, ErrorCode::kUnsupported, "architectures");
  j = nomic_bert_hf();
  j["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"rope_theta", 1000.0}};
  expect_error(j, ErrorCode::kUnsupported, "rope_parameters.rope_type");
  j = nomic_bert_hf();
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", "big"}};
  expect_error(j, ErrorCode::kInvalidModel, "rope_parameters.rope_theta");
  j = nomic_bert_hf();
  j["head_dim"] = 32;
  expect_error(j, ErrorCode::kUnsupported, "head_dim");
  j = nomic_bert_hf();
  j["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
  expect_error(j, ErrorCode::kUnsupported, "rope_scaling");
}

// Alibaba-NLP/gte-base-en-v1.5's config.json: new-impl's remote-code form.
nlohmann::json gte_base() {
  return nlohmann::json::parse(R"({
    "architectures": ["NewModel"], "attention_probs_dropout_prob": 0.0,
    "auto_map": {"AutoConfig": "Alibaba-NLP/new-impl--configuration.NewConfig",
                 "AutoModel": "Alibaba-NLP/new-impl--modeling.NewModel"},
    "classifier_dropout": null, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
    "layer_norm_eps": 1e-12, "layer_norm_type": "layer_norm", "logn_attention_clip1": false,
    "logn_attention_scale": false, "max_position_embeddings": 8192, "model_type": "new",
    "num_attention_heads": 12, "num_hidden_layers": 12, "pack_qkv": true, "pad_token_id": 0,
    "position_embedding_type": "rope", "rope_scaling": null, "rope_theta": 500000,
    "torch_dtype": "float32", "transformers_version": "4.39.1", "type_vocab_size": 0,
    "unpad_inputs": false, "use_memory_efficient_attention": false, "vocab_size": 30528})");
}

// transformers 5's GteConfig form.
nlohmann::json gte_hf() {
  return nlohmann::json::parse(R"({
    "architectures": ["GteModel"], "hidden_act": "gelu", "hidden_size": 768,
    "intermediate_size": 3072, "layer_norm_eps": 1e-12, "max_position_embeddings": 8192,
    "model_type": "gte", "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0,
    "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"},
    "type_vocab_size": 0, "vocab_size": 30528})");
}

void expect_gte_base(const TransformerSpec& c) {
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.intermediate_size, 3072);
  EXPECT_EQ(c.hidden_act, Activation::kGeluErf);
  EXPECT_EQ(c.mlp, MlpKind::kGated);
  EXPECT_FALSE(c.gate_activated_first);  // up_gate_proj is [up; gate]
  EXPECT_EQ(c.type_vocab_size, 0);
  EXPECT_EQ(c.max_sequence_length(), 8192);
  EXPECT_EQ(c.position, PositionKind::kRotary);
  EXPECT_EQ(c.rotary.dim, 64);
  EXPECT_DOUBLE_EQ(c.rotary.base, 500000.0);
  EXPECT_DOUBLE_EQ(c.rotary.inv_freq_divisor, 1.0);
  EXPECT_TRUE(c.attention_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_TRUE(c.has_mlp_down_bias());
  EXPECT_EQ(c.names.layer, "encoder.layer.");
  EXPECT_EQ(c.names.qkv, "attention.qkv_proj");
  EXPECT_EQ(c.names.ffn_up, "mlp.up_gate_proj");
  EXPECT_TRUE(c.names.ffn_gate.empty());
  EXPECT_EQ(c.names.attention_norm, "attn_ln");
}

TEST(TransformerSpec, GteInBothConfigForms) {
  expect_gte_base(parse_transformer_spec(gte_base().dump(), "config.json"));
  expect_gte_base(parse_transformer_spec(gte_hf().dump(), "config.json"));
  EXPECT_EQ(parse_transformer_spec(gte_base().dump(), "config.json").model_type, "new");
  auto j = gte_hf();
  j.erase("rope_parameters");  // transformers' default theta for GTE
  EXPECT_DOUBLE_EQ(parse_transformer_spec(j.dump(), "config.json").rotary.base, 160000.0);
  j = gte_base();
  j.erase("rope_theta");  // NewConfig's default
  EXPECT_DOUBLE_EQ(parse_transformer_spec(j.dump(), "config.json").rotary.base, 10000.0);
  j = gte_base();
  j["pack_qkv"] = false;
  const TransformerSpec c = parse_transformer_spec(j.dump(), "config.json");
  EXPECT_TRUE(c.names.qkv.empty());
  EXPECT_EQ(c.names.query, "attention.q_proj");
  EXPECT_EQ(c.names.value, "attention.v_proj");
}

TEST(TransformerSpec, GteNtkScalingRaisesTheBaseAndDividesTheFrequencies) {
  // gte-large-en-v1.5: theta 160,000 with {"type": "ntk", "factor": 2.0}; head size 64.
  auto j = gte_base();
  j["hidden_size"] = 1024;
  j["num_attention_heads"] = 16;
  j["rope_theta"] = 160000;
  j["rope_scaling"] = {{"factor", 2.0}, {"type", "ntk"}};
  const TransformerSpec c = parse_transformer_spec(j.dump(), "config.json");
  EXPECT_EQ(c.rotary.dim, 64);
  EXPECT_DOUBLE_EQ(c.rotary.base, 320000.0);
  EXPECT_DOUBLE_EQ(c.rotary.inv_freq_divisor, std::pow(2.0, 2.0 / 64));
}

TEST(TransformerSpec, GteRejectsWhatItCannotRun) {
  auto j = gte_base();
  j["rope_scaling"] = {{"type", "ntk"}};
  expect_error(j, ErrorCode::kInvalidModel, "rope_scaling.factor: missing");
  j["rope_scaling"] = {{"factor", 2.0}};
  expect_error(j, ErrorCode::kInvalidModel, "rope_scaling.type: missing");
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  expect_error(j, ErrorCode::kUnsupported, "rope_scaling.type");
  j["rope_scaling"] = {{"type", "ntk"}, {"factor", 1.0}};
  expect_error(j, ErrorCode::kUnsupported, "rope_scaling.factor");
  j["rope_scaling"] = {{"type", "ntk"}, {"factor", 2.0}, {"mixed_b", 0.5}};
  expect_error(j, ErrorCode::kUnsupported, "rope_scaling.mixed_b");
  j["rope_scaling"] = "ntk";
  expect_error(j, ErrorCode::kInvalidModel, "rope_scaling");
  j = gte_base();
  j["rope_theta"] = 0;
  expect_error(j, ErrorCode::kInvalidModel, "rope_theta");
  j = gte_base();
  j["position_embedding_type"] = "absolute";
  expect_error(j, ErrorCode::kUnsupported, "position_embedding_type");
  j = gte_base();
  j["layer_norm_type"] = "rms_norm";
  expect_error(j, ErrorCode::kUnsupported, "layer_norm_type");
  j = gte_base();
  j["logn_attention_scale"] = true;
  expect_error(j, ErrorCode::kUnsupported, "logn_attention_scale");
  j = gte_base();
  j["hidden_act"] = "mish";
  expect_error(j, ErrorCode::kUnsupported, "hidden_act");
  j = gte_base();
  j["architectures"] = {"GteModel"};  // transformers 5's class under the Hub model_type
  expect_error(j, ErrorCode::kUnsupported, "architectures");
  j = gte_hf();
  j["rope_parameters"] = {{"rope_type", "dynamic"}, {"factor", 2.0}};
  expect_error(j, ErrorCode::kUnsupported, "rope_parameters.rope_type");
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
// Qwen3-Embedding-0.6B's config.json (transformers 4 form: rope_theta at the top).
nlohmann::json qwen3_embedding() {
  return nlohmann::json::parse(R"({
    "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "head_dim": 128,
    "hidden_act": "silu", "hidden_size": 1024, "intermediate_size": 3072,
    "max_position_embeddings": 32768, "max_window_layers": 28, "model_type": "qwen3",
    "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8,
    "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000, "sliding_window": null,
    "tie_word_embeddings": true, "use_sliding_window": false, "vocab_size": 151669})");
}

// EmbeddingGemma-300m's config.json (transformers 4 form).
nlohmann::json embedding_gemma() {
  auto j = nlohmann::json::parse(R"({
    "architectures": ["Gemma3TextModel"], "attention_bias": false, "head_dim": 256,
    "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 768, "intermediate_size": 1152,
    "max_position_embeddings": 2048, "model_type": "gemma3_text", "num_attention_heads": 3,
    "num_hidden_layers": 24, "num_key_value_heads": 1, "query_pre_attn_scalar": 256,
    "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000.0, "rope_scaling": null,
    "rope_theta": 1000000.0, "sliding_window": 512, "use_bidirectional_attention": true,
    "attn_logit_softcapping": null, "final_logit_softcapping": null, "vocab_size": 262144})");
  for (int l = 0; l < 24; ++l) {
    j["layer_types"].push_back(l % 6 == 5 ? "full_attention" : "sliding_attention");
  }
  return j;
}

TEST(TransformerSpec, Qwen3IsACausalGroupedQueryDecoder) {
  const TransformerSpec s = parse_transformer_spec(qwen3_embedding().dump(), "config.json");
  EXPECT_EQ(s.model_type, "qwen3");
  EXPECT_EQ(s.head_dim(), 128);  // not 1024 / 16
  EXPECT_EQ(s.kv_heads(), 8);
  EXPECT_EQ(s.qkv_dim(), 16 * 128 + 2 * 8 * 128);
  EXPECT_TRUE(s.causal);
  EXPECT_EQ(s.norm_kind, NormKind::kRms);
  EXPECT_EQ(s.norm_placement, NormPlacement::kPre);
  EXPECT_EQ(s.mlp, MlpKind::kGated);
  EXPECT_EQ(s.hidden_act, Activation::kSilu);
  EXPECT_DOUBLE_EQ(s.rotary.base, 1e6);
  EXPECT_EQ(s.rotary.dim, 128);
  EXPECT_EQ(s.type_vocab_size, 0);
  EXPECT_TRUE(s.names.embedding_norm.empty());
  EXPECT_EQ(s.names.query_norm, "self_attn.q_norm");
  EXPECT_EQ(s.local_window, 0);
  auto j = qwen3_embedding();
  j.erase("rope_theta");
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 5000.0}};
  EXPECT_DOUBLE_EQ(parse_transformer_spec(j.dump(), "config.json").rotary.base, 5000.0);
}

TEST(TransformerSpec, Qwen3RejectsBadFields) {
  auto j = qwen3_embedding();
  j.erase("head_dim");
  expect_error(j, ErrorCode::kInvalidModel, "head_dim: missing");
  j = qwen3_embedding();
  j["num_key_value_heads"] = 6;
  expect_error(j, ErrorCode::kInvalidModel, "num_key_value_heads: 6 does not divide");
  j = qwen3_embedding();
  j["use_sliding_window"] = true;
  expect_error(j, ErrorCode::kUnsupported, "use_sliding_window");
  j = qwen3_embedding();
  j["layer_types"] = std::vector<std::string>(28, "full_attention");
  j["layer_types"][3] = "sliding_attention";
  expect_error(j, ErrorCode::kUnsupported, "layer_types: layer 3");
  j["layer_types"] = std::vector<std::string>(27, "full_attention");
  expect_error(j, ErrorCode::kInvalidModel, "layer_types: expected an array of num_hidden_layers");
  j = qwen3_embedding();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  expect_error(j, ErrorCode::kUnsupported, "rope_scaling");
}

TEST(TransformerSpec, EmbeddingGemmaIsABidirectionalDecoderWithWindows) {
  const TransformerSpec s = parse_transformer_spec(embedding_gemma().dump(), "config.json");
  EXPECT_EQ(s.model_type, "gemma3_text");
  EXPECT_FALSE(s.causal);
  EXPECT_EQ(s.head_dim(), 256);
  EXPECT_EQ(s.kv_heads(), 1);
  EXPECT_EQ(s.hidden_act, Activation::kGeluTanh);
  EXPECT_DOUBLE_EQ(s.norm_weight_offset, 1.0);
  EXPECT_DOUBLE_EQ(s.embedding_scale, std::sqrt(768.0));
  EXPECT_DOUBLE_EQ(s.attention_scale, 1.0 / 16.0);
  // transformers: |i - j| < sliding_window / 2 + 1.
  EXPECT_EQ(s.local_window, 256);
  EXPECT_TRUE(s.layer_is_local(0));
  EXPECT_FALSE(s.layer_is_local(5));
  EXPECT_TRUE(s.layer_is_local(6));
  EXPECT_DOUBLE_EQ(s.rotary.base, 1e6);
  EXPECT_DOUBLE_EQ(s.rotary.local_base, 1e4);
  EXPECT_EQ(s.names.post_attention_norm, "post_attention_layernorm");
  EXPECT_EQ(s.names.ffn_norm, "pre_feedforward_layernorm");
  EXPECT_EQ(s.names.post_ffn_norm, "post_feedforward_layernorm");
  auto j = embedding_gemma();  // transformers 5: rope_parameters per layer kind
  j.erase("rope_theta");
  j.erase("rope_local_base_freq");
  j["rope_parameters"] = {{"full_attention", {{"rope_type", "default"}, {"rope_theta", 2e5}}},
                          {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 50.0}}}};
  const TransformerSpec t = parse_transformer_spec(j.dump(), "config.json");
  EXPECT_DOUBLE_EQ(t.rotary.base, 2e5);
  EXPECT_DOUBLE_EQ(t.rotary.local_base, 50.0);
  j = embedding_gemma();
  j.erase("layer_types");  // transformers' fallback: sliding_window_pattern 6
  EXPECT_FALSE(parse_transformer_spec(j.dump(), "config.json").layer_is_local(11));
  EXPECT_TRUE(parse_transformer_spec(j.dump(), "config.json").layer_is_local(10));
}

TEST(TransformerSpec, EmbeddingGemmaRejectsBadFields) {
  auto j = embedding_gemma();
  j["layer_types"][2] = "chunked_attention";
  expect_error(j, ErrorCode::kUnsupported, "layer_types: layer 2: \"chunked_attention\"");
  j = embedding_gemma();
  j.erase("sliding_window");
  expect_error(j, ErrorCode::kInvalidModel, "sliding_window: missing");
  j = embedding_gemma();
  j["use_bidirectional_attention"] = false;
  expect_error(j, ErrorCode::kUnsupported, "use_bidirectional_attention");
  j = embedding_gemma();
  j["attn_logit_softcapping"] = 50.0;
  expect_error(j, ErrorCode::kUnsupported, "attn_logit_softcapping");
  j = embedding_gemma();
  j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 8.0}};
  expect_error(j, ErrorCode::kUnsupported, "rope_scaling");
  j = embedding_gemma();
  j["num_key_value_heads"] = 2;
  expect_error(j, ErrorCode::kInvalidModel, "num_key_value_heads: 2 does not divide");
  j = embedding_gemma();
  j["architectures"] = {"Gemma3Model"};
  expect_error(j, ErrorCode::kUnsupported, "architectures");
}

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
