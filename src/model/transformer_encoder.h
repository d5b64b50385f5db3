// The transformer encoder of every supported family, shaped by a TransformerSpec (positions,
// norm placement, MLP kind, attention windows), running on packed batches: sequences laid end to
// end without padding, located by cu_seqlens-style offsets.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "embedrt/profile.h"
#include "kernels/cpu/layer_norm.h"
#include "kernels/cpu/matmul.h"
#include "model/transformer_spec.h"
#include "model/transformer_weights.h"

namespace embedrt::model {

// Activation buffers for one caller. They grow to the largest batch seen and are then reused, so
// a warm forward pass allocates nothing. Not shareable between threads running at once.
class Workspace {
 public:
  Workspace() = default;

  // Bytes currently held by the activation buffers.
  size_t bytes() const noexcept;

 private:
  friend class TransformerEncoder;
  void reserve(const TransformerSpec& config, int64_t tokens, int64_t max_len, int threads);

  std::vector<float> hidden_, qkv_, context_, sum_, intermediate_, attention_scratch_;
  std::vector<float> normed_;  // pre-norm families: a block's normalized input
  std::vector<float> gated_;   // gated MLPs: act(gate) * up, the down projection's input
  // Rotary cos/sin tables for the batch's longest sequence: full-attention layers, then
  // sliding-window layers when their base differs.
  std::vector<float> rotary_cos_, rotary_sin_, local_rotary_cos_, local_rotary_sin_;
  int64_t rotary_positions_ = 0, local_rotary_positions_ = 0;
  // [heads, 2 * max_len - 1]: the relative position bias by key minus query (families with one).
  std::vector<float> relative_bias_;
};

// A packed batch: ids and token_type_ids per token (type ids may be empty, meaning all 0; a family
// without token type embeddings ignores them), and
// offsets with one more entry than there are sequences, starting at 0 and ending at ids.size().
struct PackedBatch {
  std::span<const int32_t> ids;
  std::span<const int32_t> token_type_ids;
  std::span<const int32_t> offsets;
};

struct EncoderOptions {
  // Requested matmul precision; the encoder falls back (see precision() and warnings()) where the
  // CPU cannot run it.
  kernels::Precision precision = kernels::Precision::kF32;
};

// How to load a checkpoint for an encoder that will run in `requested` precision: layers streamed
// into the packing, the word embeddings kept in 16 bits where that mode keeps them (see
// TransformerEncoder's constructor). The file must stay open until the encoder is built.
WeightLoadOptions weight_load_options(kernels::Precision requested);

class TransformerEncoder {
 public:
  // Packs the weights for the CPU kernels; `weights` is consumed (a streaming load reads each layer
  // from its file here).
  TransformerEncoder(const TransformerSpec& config, TransformerWeights weights,
                     const EncoderOptions& options = {});

  // Loads <dir>/config.json and <dir>/model.safetensors (any registered family).
  static TransformerEncoder load(const std::filesystem::path& dir,
                                 const EncoderOptions& options = {});

  const TransformerSpec& config() const noexcept { return config_; }

  // The precision the matmuls run in, after checking the CPU.
  kernels::Precision precision() const noexcept { return precision_; }
  // Why the requested options could not be honoured as asked (e.g. a precision fallback).
  const std::vector<std::string>& warnings() const noexcept { return warnings_; }
  // Resident bytes of the packed weights, the embedding tables and the LayerNorm parameters. A word
  // table read in place from the checkpoint counts in full, though only the rows texts use become
  // resident (as file pages, which the kernel can drop and read again).
  size_t weight_bytes() const noexcept;
  // The matmul kernel the feed-forward layers run for `rows` rows: embedrt's packed GEMM
  // ("embedrt:...") or oneDNN's implementation name (e.g. "brg:avx512_core_amx").
  std::string matmul_implementation(int64_t rows) const;

  // Runs the encoder and returns the last hidden states [total_tokens, hidden], row t for token t,
  // inside `workspace` (valid until its next use). Positions restart in every sequence (at the
  // spec's position_offset).
  // Throws kInvalidArgument for inconsistent offsets or out-of-range ids, kInputTooLong for a
  // sequence longer than the spec's max_sequence_length(). Safe to call from several threads at
  // once, each with its own workspace. A sequence's output bits do not depend on the rest of the
  // batch, its position in it or the thread count. `batch_invariant` = false gives up that
  // guarantee for speed on large batches (see kernels::Linear::forward); results stay within float
  // rounding of the invariant ones. With `op_times`, wall-clock time per operation group is added
  // to it (summed over layers). `checkpoint`, when set, is called on this thread between operations
  // (about five times per layer), outside any parallel region. It may run other forward passes with
  // other workspaces (a short query overtaking this batch); its time is left out of `op_times`.
  std::span<const float> forward(const PackedBatch& batch, Workspace& workspace,
                                 bool batch_invariant = true,
                                 embedrt::InferenceOpTimes* op_times = nullptr,
                                 const std::function<void()>& checkpoint = {}) const;

 private:
  struct Layer {
    kernels::Linear qkv, attention_output, intermediate, output;
    // Post-norm: after the attention sum; pre-norm: on the attention input (empty: none).
    std::vector<float> attention_norm_weight, attention_norm_bias;
    // Post-norm: after the MLP sum; pre-norm: on the MLP input.
    std::vector<float> output_norm_weight, output_norm_bias;
    // RMSNorm weights (see TransformerWeights); empty where the family has none.
    std::vector<float> query_norm_weight, key_norm_weight;
    std::vector<float> post_attention_norm_weight, post_ffn_norm_weight;
  };

  int64_t validate(const PackedBatch& batch) const;
  // The fp32 word table (copied or mapped); null when the table is kept in 16 bits.
  const float* float_word_embeddings() const noexcept;
  void embed(const PackedBatch& batch, float* hidden) const;
  // Fills `out` [heads, 2 * span - 1] from the bucket table, for sequences up to span tokens.
  void expand_relative_bias(int64_t span, float* out) const;

  TransformerSpec config_;
  kernels::Precision precision_ = kernels::Precision::kF32;
  std::vector<std::string> warnings_;
  std::vector<float> word_embeddings_, position_embeddings_, token_type_embeddings_;
  // int8 mode keeps the word embeddings, the largest table, in half precision instead; bf16 and
  // int8 keep a checkpoint's 16-bit table as stored (bfloat16 with word_embeddings_bf16_).
  std::vector<uint16_t> word_embeddings_half_;
  bool word_embeddings_bf16_ = false;
  // An F32 table read in place from the checkpoint instead of word_embeddings_ (see
  // load_transformer_weights); declared after the file that keeps it mapped, so it goes first.
  std::shared_ptr<const SafeTensorsFile> mapped_file_;
  MappedTensor word_embeddings_mapped_;
  std::vector<float> embedding_norm_weight_, embedding_norm_bias_;
  std::vector<float> final_norm_weight_, final_norm_bias_;
  std::vector<float> relative_attention_bias_;  // [buckets, heads]; empty: none
  std::vector<Layer> layers_;
};

}  // namespace embedrt::model
