// Encoder weights taken from a safetensors file through the family's name map and checked against
// the spec.
#pragma once

#include <cstdint>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "model/safetensors.h"
#include "model/transformer_spec.h"

namespace embedrt::model {

// A [rows, cols] row-major weight matrix in the type the checkpoint stores it: fp32, or BF16 / F16
// bits kept as stored (exact), which kernels::Linear packs without an fp32 copy. The values are
// in `f32` or `bits`, or, in a streaming load, read in place from the mapped file (`mapped`).
struct WeightMatrix {
  kernels::WeightType type = kernels::WeightType::kF32;
  int64_t rows = 0, cols = 0;
  std::vector<float> f32;
  std::vector<uint16_t> bits;
  MappedTensor mapped;

  kernels::WeightView view() const;
  // The values as fp32 (widened exactly from 16 bits).
  std::vector<float> to_float() const;
};

// A bias vector is empty where the family has none. A norm without bias in the checkpoint gets a
// zero bias here.
struct LayerWeights {
  // [qkv_dim, hidden]: query, key and value rows stacked (3 * hidden without grouped K/V heads).
  WeightMatrix qkv_weight;
  std::vector<float> qkv_bias;  // [qkv_dim]
  WeightMatrix attention_output_weight;
  std::vector<float> attention_output_bias;
  // Empty for a pre-norm layer 0 without its own attention norm.
  std::vector<float> attention_norm_weight, attention_norm_bias;
  // [intermediate, hidden]; gated MLPs: [2 * intermediate, hidden], the activated half first.
  WeightMatrix intermediate_weight;
  std::vector<float> intermediate_bias;
  WeightMatrix output_weight;  // [hidden, intermediate]
  std::vector<float> output_bias;
  std::vector<float> output_norm_weight, output_norm_bias;
  // [head_dim] RMSNorm weights over each query / key head; empty where the family has none.
  std::vector<float> query_norm_weight, key_norm_weight;
  // [hidden] RMSNorm weights on the attention / MLP output before the residual add; empty: none.
  std::vector<float> post_attention_norm_weight, post_ffn_norm_weight;
};

struct TransformerWeights {
  std::string prefix;  // what the file puts before the names, e.g. "bert." or "0.auto_model."
  std::vector<float> word_embeddings;  // [vocab, hidden]
  // [vocab, hidden] as 16-bit values instead of word_embeddings, when loaded so: IEEE half, or
  // bfloat16 with word_embeddings_bf16.
  std::vector<uint16_t> word_embeddings_half;
  bool word_embeddings_bf16 = false;
  // [vocab, hidden] F32 read in place from the checkpoint's mapping instead of word_embeddings,
  // when loaded through the file's owner (see load_transformer_weights); `file` keeps it mapped.
  MappedTensor word_embeddings_mapped;
  std::shared_ptr<const SafeTensorsFile> file;
  std::vector<float> position_embeddings;    // [max_positions, hidden]; empty for rotary families
  std::vector<float> token_type_embeddings;  // [type_vocab, hidden]; empty when the family has none
  std::vector<float> embedding_norm_weight, embedding_norm_bias;
  std::vector<float> final_norm_weight, final_norm_bias;  // empty: no final norm
  // [relative_attention_num_buckets, heads]; empty when the family has none.
  std::vector<float> relative_attention_bias;
  // Every layer, unless the load streams them (load_layer set): then empty.
  std::vector<LayerWeights> layers;
  int64_t num_layers = 0;
  // Streaming load: reads layer l from the file, which must stay open until the encoder is built.
  std::function<LayerWeights(int64_t)> load_layer;

  int64_t layer_count() const;
  // Layer l's weights, moved out (or read from the file when streaming); each once.
  LayerWeights take_layer(int64_t l);
};

// How the load keeps the word embeddings, the largest table (a quarter of a 0.6B decoder).
enum class WordEmbeddings {
  kFloat,     // fp32
  kAsStored,  // an F16 or BF16 table keeps its 16-bit values (exact); F32 stays fp32
  kHalf,      // as kAsStored, but an F32 table becomes IEEE half
};

struct WeightLoadOptions {
  WordEmbeddings word_embeddings = WordEmbeddings::kFloat;
  // Read each layer only when the encoder packs it (TransformerWeights::load_layer), so at most one
  // layer's copy is resident beside the packed weights, never the whole model in fp32. A 16-bit
  // matrix stored whole is then read in place from the mapping instead of copied.
  bool stream_layers = false;
};

// The prefix in front of the encoder's tensor names in `file`, found from the word embeddings'
// name: "" for a plain <Family>Model save, "bert."/"roberta."/"distilbert." for task heads,
// "0.auto_model." for some sentence-transformers saves, ...
std::string detect_encoder_prefix(const SafeTensorsFile& file, const TransformerSpec& spec);

// Loads every encoder tensor as fp32, except the layers' weight matrices: F16 or BF16 ones stay in
// their 16-bit type (see WeightMatrix). Throws kInvalidModel listing every missing, unexpected and
// mis-shaped tensor in one message. The family's ignored tensors (pooler, buffers) and tensors
// outside the prefix (task heads) are skipped.
// `options` can keep the largest table in 16 bits and defer the layers (see WeightLoadOptions),
// which keeps the load's peak memory near the packed model's size.
TransformerWeights load_transformer_weights(const SafeTensorsFile& file,
                                            const TransformerSpec& spec,
                                            const WeightLoadOptions& options = {});

// The same, given the file's owner: an F32 word-embedding table that `options` keep in fp32 (and
// that is not scaled, and lies 4-byte aligned in the file) is read in place from the mapping
// (word_embeddings_mapped, word_embeddings left empty) rather than copied, so only the rows that
// texts use become resident: XLM-RoBERTa's 250,002 x 768 table is 768 MB as a copy. The weights
// then hold `file`. A table read this way faults its pages in from the file as rows are first used;
// the file must not be truncated or rewritten in place while the weights live (a new snapshot in
// the Hugging Face cache is a new file).
TransformerWeights load_transformer_weights(std::shared_ptr<const SafeTensorsFile> file,
                                            const TransformerSpec& spec,
                                            const WeightLoadOptions& options = {});

}  // namespace embedrt::model
