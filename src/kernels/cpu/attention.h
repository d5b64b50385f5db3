// Scaled dot-product self-attention over packed sequences (no padding), heads split from a fused
// QKV projection.
#pragma once

#include <cstddef>
#include <cstdint>

namespace embedrt::kernels {

struct AttentionArgs {
  // [total_tokens, (num_heads + 2 * kv_heads) * head_dim]: per token Q (num_heads heads), then K,
  // then V (kv_heads heads each); head h of each occupies columns [h * head_dim, (h + 1) *
  // head_dim) of its part.
  const float* qkv = nullptr;
  // num_seqs + 1 ascending token offsets (cu_seqlens); sequence s is tokens [offsets[s],
  // offsets[s+1]).
  const int32_t* offsets = nullptr;
  int64_t num_seqs = 0;
  int64_t num_heads = 0;
  int64_t head_dim = 0;
  // [total_tokens, num_heads * head_dim].
  float* out = nullptr;
  // Grouped-query attention: query head h reads K/V head h / (num_heads / num_kv_heads), which
  // must divide num_heads. 0: as num_heads.
  int64_t num_kv_heads = 0;
  // Scores are q.k * scale; 0: 1 / sqrt(head_dim).
  float scale = 0.0f;
  // Query i sees keys j <= i only (decoder models).
  bool causal = false;
  // Optional: head h adds relative_bias[h * (2 * bias_span - 1) + (j - i + bias_span - 1)] to the
  // scaled score of query i and key j (MPNet's relative position buckets); bias_span must be at
  // least the longest sequence. nullptr: no bias.
  const float* relative_bias = nullptr;
  int64_t bias_span = 0;
  // > 0: query i attends only to keys j with |i - j| <= window (local attention, as ModernBERT's
  // sliding-window layers); 0: every key of the sequence.
  int64_t window = 0;
  // Reduced precision allowed: on a CPU with AMX and a head size it takes (multiples of 32), the
  // scores (from Q and K each split into two bf16 parts, about 16 significant bits) and P.V (V
  // and the weights rounded to bf16) run on the tile unit, summed in fp32. Elsewhere, or false,
  // everything stays fp32. The encoder sets it in its bf16 and int8 modes.
  bool bf16 = false;
};

// What one head's kernel changes in its scores beyond softmax(Q K^T / sqrt(head_dim)).
struct ScoreMods {
  // relative_bias[j - i + bias_span - 1] is added to the scaled score of query i and key j.
  const float* relative_bias = nullptr;
  int64_t bias_span = 0;
  int64_t window = 0;   // as AttentionArgs::window
  bool causal = false;  // as AttentionArgs::causal
  float scale = 0.0f;   // as AttentionArgs::scale

  bool active() const noexcept { return relative_bias != nullptr || window > 0 || causal; }
  float scale_for(int64_t head_dim) const noexcept {
    return scale > 0.0f ? scale : 1.0f / __builtin_sqrtf(static_cast<float>(head_dim));
  }
  // Keys [first, last) that queries [row_begin, row_end) of a len-token sequence can see.
  int64_t first_key(int64_t row_begin) const noexcept {
    return window > 0 && row_begin > window ? row_begin - window : 0;
  }
  int64_t last_key(int64_t row_end, int64_t len) const noexcept {
    int64_t last = window > 0 && row_end - 1 + window + 1 < len ? row_end + window : len;
    if (causal && row_end < last) last = row_end;  // the block's last query sees up to itself
    return last;
  }
  // row[j - first] for keys [first, last) of query i: scaled, biased and masked in place, ready
  // for a softmax with scale 1 (masked keys become -inf, so their weights are exactly 0).
  // The masked keys are found first, so that the loops over the rest have no branch and
  // vectorize (a per-key test kept MPNet's bias at a scalar op per score: 15% of its attention).
  void apply(float* row, int64_t i, int64_t first, int64_t last, float scale) const noexcept {
    int64_t lo = first, hi = last;  // the keys [lo, hi) query i sees
    if (window > 0) {
      if (i - window > lo) lo = i - window;
      if (i + window + 1 < hi) hi = i + window + 1;
    }
    if (causal && i + 1 < hi) hi = i + 1;
    if (hi < lo) hi = lo;
    for (int64_t j = first; j < lo; ++j) row[j - first] = -__builtin_inff();
    if (relative_bias) {
      const float* bias = relative_bias + (lo - i + bias_span - 1);  // key lo's
      float* r = row + (lo - first);
      for (int64_t j = 0; j < hi - lo; ++j) r[j] = r[j] * scale + bias[j];
    } else {
      for (int64_t j = lo; j < hi; ++j) row[j - first] *= scale;
    }
    for (int64_t j = hi; j < last; ++j) row[j - first] = -__builtin_inff();
  }
};

// Rows of scores a head kernel keeps at once (a block of query rows), part of its scratch.
inline constexpr int64_t kAttentionScoreRows = 6;

// A block of query rows that sees at most kAttentionTwoPassKeys keys takes the two-pass softmax
// over all of them at once (every text up to 512 tokens). Blocks that see more (long sequences)
// go through the keys in blocks of kAttentionKeyBlock with a running maximum and sum (online
// softmax), so that the scores take O(block) scratch and each block of K and V stays in cache
// while a group of kAttentionStateRows query rows uses it. 256 keys (128 KiB of K and of V at
// head_dim 128) measured faster than 512 and 1024.
inline constexpr int64_t kAttentionTwoPassKeys = 512;
inline constexpr int64_t kAttentionKeyBlock = 256;
static_assert(kAttentionKeyBlock <= kAttentionTwoPassKeys && kAttentionKeyBlock % 32 == 0,
              "a key block's scores fit the score rows and start on a K panel");
// Query rows whose running softmax state (maximum, sum, output accumulators) the SIMD kernels keep
// while they sweep the key blocks, a multiple of both kernels' block of query rows.
inline constexpr int64_t kAttentionStateRows = 48;

// Columns of one row of scores in a head kernel's scratch for a len-token sequence: the keys a
// query block sees, widened to whole 16-key tiles, never more than kAttentionTwoPassKeys + 32.
inline constexpr int64_t attention_score_cols(int64_t len) {
  const int64_t len32 = (len + 31) & ~int64_t{31};
  return len32 < kAttentionTwoPassKeys + 32 ? len32 : kAttentionTwoPassKeys + 32;
}

// Floats of scratch one thread needs for sequences up to max_len tokens.
size_t attention_scratch_per_thread(int64_t max_len, int64_t head_dim);

// out = softmax(Q K^T * scale) V for every (sequence, head), each over the sequence's
// true length. `scratch` holds `scratch_floats` floats; the call uses as many threads (up to
// OpenMP's maximum) as it holds per-thread blocks for. The relative bias, the window, the causal
// mask and grouped K/V heads, when set, apply as AttentionArgs says. Every (sequence, head) is
// computed the same way whatever the batch, so results are bit-identical across batch compositions.
void attention(const AttentionArgs& args, float* scratch, size_t scratch_floats);

namespace scalar {
// One (sequence, head): q/k/v point at the head's first column of the sequence's first token,
// rows `stride` floats apart; out likewise with `out_stride`.
void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch,
                    const ScoreMods& mods = {});
}  // namespace scalar
namespace avx2 {
void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch,
                    const ScoreMods& mods = {});
}
namespace avx512 {
void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch,
                    const ScoreMods& mods = {});
}

}  // namespace embedrt::kernels
