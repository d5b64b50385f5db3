#include <gtest/gtest.h>

#include "runtime/memory_model.h"

#include <algorithm>

#include "kernels/cpu/attention_amx.h"

namespace embedrt::runtime {
namespace {

// all-MiniLM-L6-v2: hidden 384, intermediate 1536, 12 heads, 6 layers, 22.7M parameters.
ModelShape minilm() {
  ModelShape m;
  m.hidden_size = 384;
  m.intermediate_size = 1536;
  m.attention_heads = 12;
  m.layers = 6;
  m.parameters = 22713216;
  m.vocab_size = 30522;
  return m;
}

BatchShape shape(size_t tokens, size_t longest, int threads = 2,
                 Precision precision = Precision::kF32, bool deterministic = true) {
  return {tokens, longest, threads, precision, deterministic};
}

TEST(MemoryModel, ActivationsFollowTheWorkspaceBuffers) {
  const MemoryEstimate e = estimate_memory(minilm(), shape(32 * 128, 128, 2, Precision::kF32));
  // hidden + QKV + context + sum (6H) per token, the FFN intermediate (I) for one 480-token
  // chunk, fp32, once for all layers.
  EXPECT_EQ(e.activations, size_t{4} * (4096 * 6 * 384 + 480 * 1536));
  // Two threads, each the larger of the fp32 kernels' scratch (K transposed [32][128] and V copied
  // [128][32], plus six score rows, one output row and alignment) and the bf16 (AMX) kernel's,
  // whatever this CPU has: the estimate does not depend on the machine.
  const size_t fp32 = 128 * (2 * 32 + 6) + 32 + 16;
  const size_t bf16 = (kernels::amx::scratch_bytes(128, 32) + 3) / 4 + 16;
  EXPECT_GT(bf16, fp32);  // heads of 32: the bf16 kernel's K in two parts is the larger
  EXPECT_EQ(e.attention_scratch, size_t{4} * 2 * std::max(fp32, bf16));
  EXPECT_EQ(e.quantized_inputs, 0u);
  // Each of the two threads' row block (at most 60 rows) of the widest matmul input (I) in the
  // packed GEMM's tile layout.
  EXPECT_EQ(e.gemm_scratch, size_t{4} * 2 * 60 * 1536);
  EXPECT_EQ(e.workspace(), e.activations + e.attention_scratch);
  EXPECT_EQ(e.total(), e.batch() + e.weights);
  // 32 texts of 128 tokens: about 41 MB of activations on top of about 91 MB of weights.
  EXPECT_NEAR(double(e.batch()) / 1e6, 41.7, 0.5);
  EXPECT_NEAR(double(e.weights) / 1e6, 90.9, 0.5);
}

TEST(MemoryModel, KnownWeightBytesWinOverTheEstimate) {
  ModelShape m = minilm();
  m.weight_bytes = 123456789;
  EXPECT_EQ(estimate_memory(m, shape(100, 10, 1, Precision::kInt8)).weights, 123456789u);
}

TEST(MemoryModel, LowerPrecisionShrinksWeightsAndAddsInputCopies) {
  const BatchShape f32 = shape(4096, 128);
  BatchShape bf16 = f32, int8 = f32;
  bf16.precision = Precision::kBF16;
  int8.precision = Precision::kInt8;
  const MemoryEstimate a = estimate_memory(minilm(), f32);
  const MemoryEstimate b = estimate_memory(minilm(), bf16);
  const MemoryEstimate c = estimate_memory(minilm(), int8);
  EXPECT_LT(b.weights, a.weights);
  EXPECT_LT(c.weights, b.weights);
  // The word embeddings (11.7M parameters) go to fp16 only, so int8 is not a quarter of fp32:
  // 10.6 MB of int8 matmul weights, 23.4 MB of fp16 word embeddings, 1.7 MB of the rest.
  EXPECT_GT(c.weights, a.weights / 4);
  EXPECT_NEAR(double(c.weights) / 1e6, 35.7, 0.1);
  // bf16: one 128-row call's input at a time; int8: the whole batch's input as u8 (hidden-wide,
  // wider than one 480-token chunk of the intermediate) + scales and zero points.
  EXPECT_EQ(b.quantized_inputs, size_t{2} * 128 * 1536);
  EXPECT_EQ(c.quantized_inputs, size_t{4096} * 384 + 8 * 4096);
  EXPECT_EQ(c.gemm_scratch, 0u);
  // bf16's batch-invariant oneDNN calls pad a tail of at most two 6-row quanta.
  EXPECT_EQ(b.gemm_scratch, size_t{4} * 12 * (2 * 1536 + 384));
  EXPECT_EQ(b.activations, a.activations);
  EXPECT_EQ(b.workspace(), a.workspace());
  // A token count that is not a multiple of 16 pads the last int8 call through s32 scratch: here
  // the last 4 tokens of the last feed-forward chunk (260 tokens), padded to 16, with 1536
  // outputs, are the widest.
  BatchShape odd = int8;
  odd.tokens = 4100;
  EXPECT_EQ(estimate_memory(minilm(), odd).quantized_inputs,
            size_t{4112} * 384 + 8 * 4100 + 4 * 16 * 1536);
  // Without batch invariance oneDNN gets whole batches: no tail, and bf16 copies all rows.
  BatchShape whole = bf16;
  whole.deterministic = false;
  EXPECT_EQ(estimate_memory(minilm(), whole).quantized_inputs, size_t{2} * 4096 * 384);
  EXPECT_EQ(estimate_memory(minilm(), whole).gemm_scratch, 0u);
}

TEST(MemoryModel, GrowsWithTokensAndLongestSequence) {
  size_t previous = 0;
  for (size_t tokens = 16; tokens <= 32768; tokens *= 2) {
    const size_t bytes = estimate_memory(minilm(), shape(tokens, 16, 2, Precision::kF32)).batch();
    EXPECT_GT(bytes, previous);
    previous = bytes;
  }
  EXPECT_LT(estimate_memory(minilm(), shape(512, 16, 2, Precision::kF32)).attention_scratch,
            estimate_memory(minilm(), shape(512, 512, 2, Precision::kF32)).attention_scratch);
  EXPECT_LT(estimate_memory(minilm(), shape(512, 64, 1, Precision::kF32)).attention_scratch,
            estimate_memory(minilm(), shape(512, 64, 4, Precision::kF32)).attention_scratch);
  EXPECT_EQ(estimate_memory(minilm(), shape(0, 0, 2, Precision::kF32)).batch(), 0u);
}

TEST(MemoryModel, LargestBatchSizeIsTheEdgeOfWhatFits) {
  const ModelShape m = minilm();
  const size_t available = 64u << 20;
  const size_t n = largest_batch_size(m, 128, available, shape(0, 0), 100000);
  ASSERT_GT(n, 0u);
  EXPECT_LE(estimate_memory(m, shape(n * 128, 128, 2, Precision::kF32)).batch(), available);
  EXPECT_GT(estimate_memory(m, shape((n + 1) * 128, 128, 2, Precision::kF32)).batch(), available);
  EXPECT_EQ(n, 53u);  // (64 MiB less 3.9 MB of FFN chunk and scratch) / (128 × 9,216 bytes)

  EXPECT_EQ(largest_batch_size(m, 128, available, shape(0, 0), 8), 8u);
  EXPECT_EQ(largest_batch_size(m, 128, 1000, shape(0, 0), 8), 0u);
  EXPECT_EQ(largest_batch_size(m, 0, available, shape(0, 0), 8), 0u);
  // int8 needs room for its quantized inputs and s32 products, so fewer fit.
  EXPECT_LT(largest_batch_size(m, 128, available, shape(0, 0, 2, Precision::kInt8), 100000), n);
}

TEST(MemoryModel, LargestTokenBudgetIsTheEdgeOfWhatFits) {
  const ModelShape m = minilm();
  const size_t available = 64u << 20;
  const size_t t = largest_token_budget(m, 512, available, shape(0, 0), 1u << 30);
  ASSERT_GE(t, 512u);
  EXPECT_LE(estimate_memory(m, shape(t, 512, 2, Precision::kF32)).batch(), available);
  EXPECT_GT(estimate_memory(m, shape(t + 1, 512, 2, Precision::kF32)).batch(), available);
  EXPECT_EQ(largest_token_budget(m, 512, available, shape(0, 0), 2048), 2048u);
  EXPECT_EQ(largest_token_budget(m, 512, available, shape(0, 0), 100), 0u);
  EXPECT_EQ(largest_token_budget(m, 512, 1000, shape(0, 0), 1u << 30), 0u);
}

}  // namespace
}  // namespace embedrt::runtime
