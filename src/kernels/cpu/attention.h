// Scaled dot-product self-attention over packed sequences (no padding), heads split from a fused
// QKV projection.
#pragma once

#include <cstddef>
#include <cstdint>

namespace embedrt::kernels {

struct AttentionArgs {
  // [total_tokens, 3 * hidden]: per token Q, then K, then V; head h of each occupies columns
  // [h * head_dim, (h + 1) * head_dim) of its part.
  const float* qkv = nullptr;
  // num_seqs + 1 ascending token offsets (cu_seqlens); sequence s is tokens [offsets[s],
  // offsets[s+1]).
  const int32_t* offsets = nullptr;
  int64_t num_seqs = 0;
  int64_t num_heads = 0;
  int64_t head_dim = 0;
  // [total_tokens, hidden] with hidden = num_heads * head_dim.
  float* out = nullptr;
};

// Rows of scores a head kernel keeps at once (a block of query rows), part of its scratch.
inline constexpr int64_t kAttentionScoreRows = 6;

// Floats of scratch one thread needs for sequences up to max_len tokens.
size_t attention_scratch_per_thread(int64_t max_len, int64_t head_dim);

// out = softmax(Q K^T / sqrt(head_dim)) V for every (sequence, head), each over the sequence's
// true length. `scratch` holds `scratch_floats` floats; the call uses as many threads (up to
// OpenMP's maximum) as it holds per-thread blocks for. Every (sequence, head) is computed the same
// way whatever the batch, so results are bit-identical across batch compositions.
void attention(const AttentionArgs& args, float* scratch, size_t scratch_floats);

namespace scalar {
// One (sequence, head): q/k/v point at the head's first column of the sequence's first token,
// rows `stride` floats apart; out likewise with `out_stride`.
void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch);
}  // namespace scalar
namespace avx2 {
void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch);
}
namespace avx512 {
void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch);
}

}  // namespace embedrt::kernels
