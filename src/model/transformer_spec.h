// What one transformer encoder is made of, as data: dimensions, the position scheme, norm
// placement, MLP and attention kinds, and where each weight sits in the checkpoint. A registry
// builds it from a Hugging Face config.json per `model_type`; the encoder reads it and has no
// per-family code of its own. A new family is a builder and a name map (transformer_spec.cpp) plus
// tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "kernels/cpu/activation.h"

namespace embedrt::model {

// Learned absolute: row (position_offset + k) of the position table for the k-th token of a
// sequence (MPNet adds a relative position bias on top: relative_attention_num_buckets). Rotary:
// no table; queries and keys of each head are rotated by position (RotarySpec).
enum class PositionKind { kLearnedAbsolute, kRotary };
// Post: LayerNorm after each residual sum (BERT, RoBERTa, MPNet, NomicBERT, GTE).
// Pre: LayerNorm on each block's input, the residual stream left as is, one final norm
// (ModernBERT).
enum class NormPlacement { kPost, kPre };
// Plain: up -> activation -> down. Gated: up gives two halves, act(first) * second -> down
// (SwiGLU, GeGLU); the loader puts the activated half first whatever the checkpoint's order.
enum class MlpKind { kPlain, kGated };
// LayerNorm (mean and variance, weight and bias) or RMSNorm (root mean square, weight only).
enum class NormKind { kLayerNorm, kRms };

// Rotary positions (GPT-NeoX halves or GPT-J interleaved pairs), as transformers computes them:
// inv_freq[k] = 1 / base^(2k / dim) in fp32, angle = position * inv_freq[k].
struct RotarySpec {
  int64_t dim = 0;           // leading dimensions of each head that rotate (even, <= head_dim)
  double base = 10000.0;     // theta of full-attention layers
  double local_base = 0.0;   // theta of sliding-window layers; 0 = base
  bool interleaved = false;  // rotate pairs (2k, 2k+1) instead of (k, k + dim/2)
  // inv_freq[k] is further divided by this (fixed NTK scaling: factor^(2 / dim)); 1 = none.
  double inv_freq_divisor = 1.0;
};

// Checkpoint tensor names, relative to the prefix the file puts in front of the encoder ("",
// "bert.", "roberta.", "0.auto_model.", ... found from `word_embeddings`). Names without a
// ".weight"/".bias" suffix are modules that have both (or only a weight where the spec says the
// family has no biases).
struct WeightNames {
  std::string word_embeddings;
  std::string position_embeddings;    // empty: no table (rotary positions)
  std::string token_type_embeddings;  // empty: the family has none
  std::string embedding_norm;         // empty: none (decoder families)
  std::string layer;                  // layer N's names are layer + N + "." + one of the below
  // Either one fused [3 * hidden, hidden] projection (qkv) or three (query, key, value).
  std::string qkv, query, key, value;
  std::string attention_output, attention_norm;
  // Plain MLP: ffn_up [intermediate, hidden]. Gated: either ffn_gate (the activated half) and
  // ffn_up (the linear half) as two tensors, or ffn_gate empty and ffn_up fused [2 * intermediate,
  // hidden] (TransformerSpec::gate_activated_first says which half is activated).
  std::string ffn_up, ffn_gate;
  std::string ffn_down, ffn_norm;
  // RMSNorms over each query and key head before rotary (Qwen3, Gemma 3); empty: none.
  std::string query_norm, key_norm;
  // Norms on the attention and MLP outputs before their residual add (Gemma 3's
  // post_attention_layernorm and post_feedforward_layernorm); empty: none.
  std::string post_attention_norm, post_ffn_norm;
  std::string final_norm;  // empty: none (pre-norm families end with one)
  // [relative_attention_num_buckets, heads], shared by every layer; empty: the family has none.
  std::string relative_attention_bias;
  // Tensors the encoder does not use (pooler, buffers); an entry ending in '.' is a name prefix.
  std::vector<std::string> ignored;
};

struct TransformerSpec {
  std::string model_type;  // config.json's, e.g. "bert", "xlm-roberta", "distilbert"

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  // Grouped-query attention: K and V have this many heads, each shared by num_attention_heads /
  // num_key_value_heads query heads. 0: as num_attention_heads.
  int64_t num_key_value_heads = 0;
  // Size of each attention head where it is not hidden_size / num_attention_heads (Qwen3, Gemma 3:
  // config.json's head_dim). 0: hidden_size / num_attention_heads.
  int64_t attention_head_size = 0;
  int64_t intermediate_size = 0;
  kernels::Activation hidden_act = kernels::Activation::kGeluErf;
  double layer_norm_eps = 1e-12;
  // Rows of the position table; for rotary families the longest sequence the model takes.
  int64_t max_position_embeddings = 0;
  int64_t type_vocab_size = 0;  // 0: no token type embeddings (token type ids are ignored)

  PositionKind position = PositionKind::kLearnedAbsolute;
  // First position row used (RoBERTa: pad_token_id + 1; others 0).
  int64_t position_offset = 0;
  // RoBERTa's rule: a token with this id takes row position_offset - 1 and does not advance the
  // count (-1: none).
  int64_t position_pad_id = -1;
  RotarySpec rotary;  // with PositionKind::kRotary
  // Relative position bias added to every layer's attention scores (MPNet, T5-style): the score of
  // query i and key j gets bias[relative_position_bucket(j - i, ...)][head]. 0: none.
  int64_t relative_attention_num_buckets = 0;
  int64_t relative_attention_max_distance = 128;
  NormPlacement norm_placement = NormPlacement::kPost;
  NormKind norm_kind = NormKind::kLayerNorm;
  // Added to every norm weight at load (Gemma's RMSNorm computes x * (1 + weight)).
  double norm_weight_offset = 0.0;
  // Word embeddings are multiplied by this (Gemma: sqrt(hidden_size)), in fp32 as transformers
  // computes it with fp32 weights; folded into the table at load. 1: none.
  double embedding_scale = 1.0;
  // Decoder models: query i attends to keys j <= i only.
  bool causal = false;
  // Attention scores are q.k * attention_scale; 0: 1 / sqrt(head_dim()) (Gemma 3:
  // query_pre_attn_scalar^-0.5).
  double attention_scale = 0.0;
  // Pre-norm only: layer 0's attention input is the normalized embeddings as they are
  // (ModernBERT), so it has no attention norm of its own.
  bool first_layer_attention_norm = true;
  bool norm_bias = true;       // LayerNorms have a bias
  bool attention_bias = true;  // the Q/K/V and output projections have biases
  bool mlp_bias = true;        // the MLP projections have biases
  // The down projection's bias where it differs from the up projection's (GTE: up without,
  // down with); unset: as mlp_bias.
  std::optional<bool> mlp_down_bias;
  MlpKind mlp = MlpKind::kPlain;
  bool gate_activated_first = true;  // fused gated ffn_up: which half goes through hidden_act
  // Sliding-window attention: layers l with l % global_attention_every != 0 let token i see only
  // tokens j with |i - j| <= local_window (ModernBERT). local_window 0: every layer is global.
  int64_t local_window = 0;
  int64_t global_attention_every = 1;
  // Per-layer kinds where they follow no every-n-th pattern (config.json's layer_types): true for
  // a sliding-window layer. Empty: global_attention_every decides.
  std::vector<bool> local_layers;

  WeightNames names;

  int64_t head_dim() const noexcept {
    return attention_head_size > 0 ? attention_head_size : hidden_size / num_attention_heads;
  }
  int64_t kv_heads() const noexcept {
    return num_key_value_heads > 0 ? num_key_value_heads : num_attention_heads;
  }
  int64_t query_dim() const noexcept { return num_attention_heads * head_dim(); }
  int64_t kv_dim() const noexcept { return kv_heads() * head_dim(); }
  // Rows of the fused QKV projection: queries, then keys, then values.
  int64_t qkv_dim() const noexcept { return query_dim() + 2 * kv_dim(); }
  bool has_mlp_down_bias() const noexcept { return mlp_down_bias.value_or(mlp_bias); }
  bool layer_is_local(int64_t layer) const noexcept {
    if (local_window <= 0) return false;
    if (!local_layers.empty()) return local_layers[size_t(layer)];
    return layer % global_attention_every != 0;
  }
  // The longest sequence the position table covers (rotary: max_position_embeddings).
  int64_t max_sequence_length() const noexcept { return max_position_embeddings - position_offset; }
};

// Tokens the feed-forward block runs at a time for an up projection `up_width` floats wide (the
// intermediate size, twice it for a gated MLP): its fp32 output stays near 4 MiB, so the
// activation and the down projection read it from cache rather than memory. Between 144 tokens
// (past the 128 of one batch-invariant oneDNN call) and 480, a multiple of 48, so that a chunk is
// whole 12-row AVX-512 and 6-row AVX2 register tiles: MiniLM 480, MPNet 336, Qwen3-0.6B 144.
// MPNet's 320 left an 8-row tile per chunk; 336 made its FFN about 1% faster (fp32, Xeon with
// AMX, 4 interleaved pairs). Every op of the block works row by row, so the chunking never
// changes a result's bits. The encoder's workspace and the memory model both size it with this.
int64_t ffn_chunk_tokens(int64_t up_width) noexcept;
// The same for a spec's feed-forward block (its up projection is twice as wide when gated).
int64_t ffn_chunk_tokens(const TransformerSpec& spec) noexcept;

// The bucket of a relative position (key minus query) as transformers' MPNet and T5 (bidirectional)
// compute it: half the buckets for keys after the query; within each half, distances below a
// quarter of num_buckets get one bucket each, longer ones share log-spaced buckets up to
// max_distance, and everything beyond shares the last. The log is taken in float, as PyTorch does.
int64_t relative_position_bucket(int64_t relative_position, int64_t num_buckets,
                                 int64_t max_distance);

// Parses config.json text; `file` names it in errors ("<file>: <field>: <what>"). An unknown
// model_type (listing the supported ones), architectures, activations or position schemes throw
// kUnsupported; missing or ill-typed fields throw kInvalidModel.
TransformerSpec parse_transformer_spec(const std::string& json_text, const std::string& file);

// Reads and parses a config.json file (kIo when it cannot be read).
TransformerSpec load_transformer_spec(const std::filesystem::path& path);

// transformers' ACT2FN name (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu, swish) as
// an activation; kUnsupported "<file>: <field>: ..." for any other.
kernels::Activation parse_activation_name(const std::string& name, const std::string& file,
                                          const std::string& field);

// The model_type values the registry knows, sorted.
std::vector<std::string> supported_model_types();

}  // namespace embedrt::model
