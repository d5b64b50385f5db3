// How many bytes a model batch needs, from the model's shape and the batch's token counts, and the
// largest batch that fits a memory budget.
//
// The estimate follows the buffers the encoder actually allocates (model::Workspace::reserve and
// kernels::Linear), so it is a formula, not a fit. For T tokens in the batch, L tokens in its
// longest sequence, hidden size H, intermediate size I, head_dim D (H / heads unless the config
// says otherwise), Q = heads·D, KV = kv_heads·D, U = I (2I for gated MLPs) and N threads:
//
//   activations        4·T·(2H + Q + 2KV + Q [+ H pre-norm]) + 4·F·(U [+ I gated])
//                                       hidden, fused QKV (Q + 2KV), attention context (Q),
//                                       residual sum, a pre-norm block's normalized input, and
//                                       the FFN intermediate (and gated product) for F = min(T,
//                                       512) tokens (the feed-forward block runs in 512-token
//                                       chunks): one set reused by every layer, so the layer
//                                       count does not multiply it
//   attention_scratch  4·N·(⌈L⌉₈·(D + 4) + ⌈D⌉₈ + 16)   K transposed plus score rows, per thread
//   quantized_inputs   bf16: 2·max(R·max(H, Q), R'·I)   the matmul input converted to bf16, R (R')
//   rows
//                                               per oneDNN call: min(T (F), 128) batch-invariant,
//                                               else T (F)
//                      int8: max(⌈T⌉₁₆·max(H, Q), ⌈F⌉₁₆·I) + 8·T   the input quantized to u8 per
//                      token,
//                            + 4·r·max(Q + 2KV, U)         with its scale and zero point; s32
//                                                          sums of a padded last call (r rows)
//   gemm_scratch       fp32: 4·N·min(T, 60)·max(H, Q, I)   each thread's copy of its row block
//                                                      in the packed GEMM's tile layout
//                      bf16: 4·R·(U + I + H), R = min(T, 12)↑6   zero-padded tail rows of the
//                                                      batch-invariant oneDNN calls (0 when not
//                                                      batch-invariant, and for int8)
//   weights            the packed weights, resident whatever the batch (given, or estimated as
//                      4/2/1 bytes per matmul weight in fp32/bf16/int8, fp32 embedding tables
//                      (the word embeddings in 16 bits with int8, and with bf16 when the
//                      checkpoint stores them so), fp32 biases and LayerNorm
//                      parameters and, for int8, a scale and a column sum per output channel)
//
// activations and attention_scratch are the encoder's Workspace; quantized_inputs and
// gemm_scratch are thread-local scratch of the matmul kernels (one set per thread calling the
// encoder). Everything grows to the largest batch seen and is then reused, so a process's peak is
// the estimate for its largest batch (plus, while a buffer grows, the old copy of that one buffer).
// Not modelled: the tokenizer's encodings (about 40 bytes per token), the pooled outputs
// (4·dimension per text) and oneDNN's own scratchpads, all small beside the activations.
#pragma once

#include <cstddef>

#include "embedrt/embedder.h"

namespace embedrt::runtime {

struct ModelShape {
  size_t hidden_size = 0;
  size_t intermediate_size = 0;
  size_t attention_heads = 0;
  size_t key_value_heads = 0;  // 0: attention_heads
  size_t head_dim = 0;         // 0: hidden_size / attention_heads
  bool gated_mlp = false;      // the up projection is 2 * intermediate_size wide
  bool pre_norm = false;       // one more [tokens, hidden] buffer (a block's normalized input)
  size_t layers = 0;
  size_t parameters = 0;    // all parameters, embedding tables included
  size_t vocab_size = 0;    // rows of the word embedding table
  size_t weight_bytes = 0;  // resident bytes of the packed weights when known; 0 = estimate
  // The checkpoint stores the word embeddings in F16 or BF16, which bf16 mode keeps as they are.
  bool word_embeddings_16bit = false;
};

struct BatchShape {
  size_t tokens = 0;                      // tokens in the batch (sequences packed end to end)
  size_t longest = 0;                     // tokens in its longest sequence
  int threads = 1;                        // threads the encoder runs on
  Precision precision = Precision::kF32;  // effective matmul precision
  bool deterministic = true;              // batch-invariant matmul calls (EmbedderOptions)
};

struct MemoryEstimate {
  size_t activations = 0;
  size_t attention_scratch = 0;
  size_t quantized_inputs = 0;
  size_t gemm_scratch = 0;
  size_t weights = 0;

  // What the encoder's workspace holds (what Embedder::buffer_peak_bytes() reports).
  size_t workspace() const noexcept { return activations + attention_scratch; }
  // Everything the batch adds on top of the loaded model.
  size_t batch() const noexcept { return workspace() + quantized_inputs + gemm_scratch; }
  size_t total() const noexcept { return batch() + weights; }
};

MemoryEstimate estimate_memory(const ModelShape& model, const BatchShape& batch);

// Resident bytes of the weights: `model.weight_bytes` when set, else the estimate above.
size_t estimate_weight_bytes(const ModelShape& model, Precision precision);

// The largest number of sequences of `sequence_length` tokens whose batch() fits in
// `available_bytes`, at most `max_batch_size`; 0 when not even one fits. `settings` gives the
// threads, precision and determinism (its token counts are ignored).
size_t largest_batch_size(const ModelShape& model, size_t sequence_length, size_t available_bytes,
                          const BatchShape& settings, size_t max_batch_size);

// The largest token budget (tokens per batch, sequences up to `longest` tokens) whose batch()
// fits in `available_bytes`, at most `max_tokens`; 0 when not even one sequence fits.
size_t largest_token_budget(const ModelShape& model, size_t longest, size_t available_bytes,
                            const BatchShape& settings, size_t max_tokens);

}  // namespace embedrt::runtime
