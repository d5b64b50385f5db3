// What one transformer encoder is made of, as data: dimensions, the position scheme, norm
// placement, MLP and attention kinds, and where each weight sits in the checkpoint. A registry
// builds it from a Hugging Face config.json per `model_type`; the encoder reads it and has no
// per-family code of its own. A new family is a builder and a name map (transformer_spec.cpp) plus
// tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/cpu/activation.h"

namespace embedrt::model {

// Learned absolute positions: row (position_offset + k) of the position table for the k-th token
// of a sequence (MPNet adds a relative position bias on top: relative_attention_num_buckets).
// Rotary positions come with the families that need them.
enum class PositionKind { kLearnedAbsolute };
// LayerNorm after each residual sum (BERT, RoBERTa, DistilBERT).
enum class NormPlacement { kPost };
// up -> activation -> down.
enum class MlpKind { kPlain };
// Every token attends to every token of its sequence.
enum class AttentionKind { kFull };

// Checkpoint tensor names, relative to the prefix the file puts in front of the encoder ("",
// "bert.", "roberta.", "0.auto_model.", ... found from `word_embeddings`). Names without a
// ".weight"/".bias" suffix are modules that have both.
struct WeightNames {
  std::string word_embeddings, position_embeddings;
  std::string token_type_embeddings;  // empty: the family has none
  std::string embedding_norm;
  std::string layer;  // layer N's names are layer + N + "." + one of the below
  std::string query, key, value, attention_output, attention_norm;
  std::string ffn_up, ffn_down, ffn_norm;
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
  int64_t intermediate_size = 0;
  kernels::Activation hidden_act = kernels::Activation::kGeluErf;
  double layer_norm_eps = 1e-12;
  int64_t max_position_embeddings = 0;  // rows of the position table
  int64_t type_vocab_size = 0;          // 0: no token type embeddings (token type ids are ignored)

  PositionKind position = PositionKind::kLearnedAbsolute;
  // First position row used (RoBERTa: pad_token_id + 1; others 0).
  int64_t position_offset = 0;
  // RoBERTa's rule: a token with this id takes row position_offset - 1 and does not advance the
  // count (-1: none).
  int64_t position_pad_id = -1;
  // Relative position bias added to every layer's attention scores (MPNet, T5-style): the score of
  // query i and key j gets bias[relative_position_bucket(j - i, ...)][head]. 0: none.
  int64_t relative_attention_num_buckets = 0;
  int64_t relative_attention_max_distance = 128;
  NormPlacement norm_placement = NormPlacement::kPost;
  MlpKind mlp = MlpKind::kPlain;
  AttentionKind attention = AttentionKind::kFull;

  WeightNames names;

  int64_t head_dim() const noexcept { return hidden_size / num_attention_heads; }
  // The longest sequence the position table covers.
  int64_t max_sequence_length() const noexcept { return max_position_embeddings - position_offset; }
};

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

// The model_type values the registry knows, sorted.
std::vector<std::string> supported_model_types();

}  // namespace embedrt::model
