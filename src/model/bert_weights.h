// BERT encoder weights taken from a safetensors file and checked against the config.
#pragma once

#include <cstdint>

#include <string>
#include <vector>

#include "model/bert_config.h"
#include "model/safetensors.h"

namespace embedrt::model {

struct BertLayerWeights {
  std::vector<float> qkv_weight;  // [3 * hidden, hidden]: query, key and value rows stacked
  std::vector<float> qkv_bias;    // [3 * hidden]
  std::vector<float> attention_output_weight, attention_output_bias;
  std::vector<float> attention_norm_weight, attention_norm_bias;
  std::vector<float> intermediate_weight, intermediate_bias;  // [intermediate, hidden]
  std::vector<float> output_weight, output_bias;              // [hidden, intermediate]
  std::vector<float> output_norm_weight, output_norm_bias;
};

struct BertWeights {
  std::string prefix;  // what the file puts before "embeddings.", e.g. "bert." or "0.auto_model."
  std::vector<float> word_embeddings;  // [vocab, hidden]
  // [vocab, hidden] as half-precision bits instead of word_embeddings, when loaded so.
  std::vector<uint16_t> word_embeddings_half;
  std::vector<float> position_embeddings;    // [max_positions, hidden]
  std::vector<float> token_type_embeddings;  // [type_vocab, hidden]
  std::vector<float> embedding_norm_weight, embedding_norm_bias;
  std::vector<BertLayerWeights> layers;
};

// The prefix in front of BertModel's tensor names in `file` ("" for a plain BertModel save,
// "bert." for BertFor* heads, "0.auto_model." for some sentence-transformers saves, ...).
std::string detect_bert_prefix(const SafeTensorsFile& file);

// Loads every encoder tensor as fp32. Throws kInvalidModel listing every missing, unexpected and
// mis-shaped tensor in one message. Pooler weights, position_ids buffers and tensors outside the
// prefix (task heads) are ignored.
// With `half_word_embeddings` the largest table is read straight into word_embeddings_half (for
// int8 mode, which keeps it so), which keeps load's peak memory a table's fp32 copy lower.
BertWeights load_bert_weights(const SafeTensorsFile& file, const BertConfig& config,
                              bool half_word_embeddings = false);

}  // namespace embedrt::model
