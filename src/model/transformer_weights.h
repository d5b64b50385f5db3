// Encoder weights taken from a safetensors file through the family's name map and checked against
// the spec.
#pragma once

#include <cstdint>

#include <string>
#include <vector>

#include "model/safetensors.h"
#include "model/transformer_spec.h"

namespace embedrt::model {

// A bias vector is empty where the family has none. A norm without bias in the checkpoint gets a
// zero bias here.
struct LayerWeights {
  // [qkv_dim, hidden]: query, key and value rows stacked (3 * hidden without grouped K/V heads).
  std::vector<float> qkv_weight;
  std::vector<float> qkv_bias;  // [qkv_dim]
  std::vector<float> attention_output_weight, attention_output_bias;
  // Empty for a pre-norm layer 0 without its own attention norm.
  std::vector<float> attention_norm_weight, attention_norm_bias;
  // [intermediate, hidden]; gated MLPs: [2 * intermediate, hidden], the activated half first.
  std::vector<float> intermediate_weight, intermediate_bias;
  std::vector<float> output_weight, output_bias;  // [hidden, intermediate]
  std::vector<float> output_norm_weight, output_norm_bias;
  // [head_dim] RMSNorm weights over each query / key head; empty where the family has none.
  std::vector<float> query_norm_weight, key_norm_weight;
  // [hidden] RMSNorm weights on the attention / MLP output before the residual add; empty: none.
  std::vector<float> post_attention_norm_weight, post_ffn_norm_weight;
};

struct TransformerWeights {
  std::string prefix;  // what the file puts before the names, e.g. "bert." or "0.auto_model."
  std::vector<float> word_embeddings;  // [vocab, hidden]
  // [vocab, hidden] as half-precision bits instead of word_embeddings, when loaded so.
  std::vector<uint16_t> word_embeddings_half;
  std::vector<float> position_embeddings;    // [max_positions, hidden]; empty for rotary families
  std::vector<float> token_type_embeddings;  // [type_vocab, hidden]; empty when the family has none
  std::vector<float> embedding_norm_weight, embedding_norm_bias;
  std::vector<float> final_norm_weight, final_norm_bias;  // empty: no final norm
  // [relative_attention_num_buckets, heads]; empty when the family has none.
  std::vector<float> relative_attention_bias;
  std::vector<LayerWeights> layers;
};

// The prefix in front of the encoder's tensor names in `file`, found from the word embeddings'
// name: "" for a plain <Family>Model save, "bert."/"roberta."/"distilbert." for task heads,
// "0.auto_model." for some sentence-transformers saves, ...
std::string detect_encoder_prefix(const SafeTensorsFile& file, const TransformerSpec& spec);

// Loads every encoder tensor as fp32. Throws kInvalidModel listing every missing, unexpected and
// mis-shaped tensor in one message. The family's ignored tensors (pooler, buffers) and tensors
// outside the prefix (task heads) are skipped.
// With `half_word_embeddings` the largest table is read straight into word_embeddings_half (for
// int8 mode, which keeps it so), which keeps load's peak memory a table's fp32 copy lower.
TransformerWeights load_transformer_weights(const SafeTensorsFile& file,
                                            const TransformerSpec& spec,
                                            bool half_word_embeddings = false);

}  // namespace embedrt::model
