#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace embedrt::kernels::avx2 {
namespace {

// Query rows whose scores are computed together: they share every load of K, and with 16 keys
// per tile they give 12 independent FMA chains, enough to keep both FMA units busy through the
// FMA latency (8 chains were not).
constexpr int kRows = 6;
static_assert(kRows <= kAttentionScoreRows, "the scratch holds kAttentionScoreRows score rows");
// Keys per score tile and per panel of the transposed K ([c][kKeys] contiguous, so a tile's loads
// are sequential whatever the sequence length).
constexpr int64_t kKeys = 16;

// scores[r][0, kKeys) = q_r . k_j for the panel's keys and r < kRows (zero-padded keys give 0).
// Every score is one FMA chain over c in order, so the grouping of rows and keys does not change
// its bits. The loops over rows are fully unrolled so that the accumulators stay in registers.
void score_tile(const float* const* q, const float* panel, int64_t head_dim, float* scores,
                int64_t ld_scores) {
  __m256 lo[kRows], hi[kRows];
#pragma GCC unroll 6
  for (int r = 0; r < kRows; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  for (int64_t c = 0; c < head_dim; ++c) {
    const __m256 k0 = _mm256_load_ps(panel + c * kKeys);
    const __m256 k1 = _mm256_load_ps(panel + c * kKeys + 8);
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r) {
      const __m256 b = _mm256_broadcast_ss(q[r] + c);
      lo[r] = _mm256_fmadd_ps(b, k0, lo[r]);
      hi[r] = _mm256_fmadd_ps(b, k1, hi[r]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < kRows; ++r) {
    _mm256_store_ps(scores + r * ld_scores, lo[r]);
    _mm256_store_ps(scores + r * ld_scores + 8, hi[r]);
  }
}

// out_r = sum_t p_r[t] v_t for `rows` rows, head_dim = 8 * kVectors, kPass rows at a time with
// kPass * kVectors accumulators (12: as many independent chains as the score tile). Each element
// is one FMA chain over t in order, like the generic path. V is read through memory operands, as
// its registers would not fit beside the accumulators.
template <int kVectors, int kPass>
void weighted_values(const float* p, int64_t ld_p, int rows, const float* v, int64_t stride,
                     int64_t len, float* const* out) {
  for (int r0 = 0; r0 < rows; r0 += kPass) {
    const int n = std::min(kPass, rows - r0);
    const float* p_rows[kPass];
#pragma GCC unroll 6
    for (int r = 0; r < kPass; ++r) p_rows[r] = p + (r0 + (r < n ? r : 0)) * ld_p;
    __m256 acc[kPass][kVectors];
#pragma GCC unroll 6
    for (int r = 0; r < kPass; ++r) {
#pragma GCC unroll 8
      for (int x = 0; x < kVectors; ++x) acc[r][x] = _mm256_setzero_ps();
    }
    for (int64_t t = 0; t < len; ++t) {
      const float* vt = v + t * stride;
#pragma GCC unroll 6
      for (int r = 0; r < kPass; ++r) {
        const __m256 w = _mm256_broadcast_ss(p_rows[r] + t);
#pragma GCC unroll 8
        for (int x = 0; x < kVectors; ++x) {
          acc[r][x] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vt + 8 * x), acc[r][x]);
        }
      }
    }
#pragma GCC unroll 6
    for (int r = 0; r < kPass; ++r) {
      if (r >= n) break;
#pragma GCC unroll 8
      for (int x = 0; x < kVectors; ++x) _mm256_storeu_ps(out[r0 + r] + 8 * x, acc[r][x]);
    }
  }
}

void weighted_values_generic(const float* p, int64_t len8, int rows, const float* v, int64_t stride,
                             int64_t len, int64_t head_dim, float* acc, float* const* out) {
  const int64_t dim_full = head_dim & ~int64_t{7};
  const int64_t dim8 = (head_dim + 7) & ~int64_t{7};
  for (int r = 0; r < rows; ++r) {
    const float* pr = p + r * len8;
    for (int64_t c = 0; c < dim8; c += 8) _mm256_store_ps(acc + c, _mm256_setzero_ps());
    for (int64_t t = 0; t < len; ++t) {
      const __m256 w = _mm256_broadcast_ss(pr + t);
      const float* vt = v + t * stride;
      int64_t c = 0;
      for (; c < dim_full; c += 8) {
        _mm256_store_ps(acc + c,
                        _mm256_fmadd_ps(w, _mm256_loadu_ps(vt + c), _mm256_load_ps(acc + c)));
      }
      for (; c < head_dim; ++c) acc[c] = std::fma(pr[t], vt[c], acc[c]);
    }
    for (int64_t c = 0; c < head_dim; ++c) out[r][c] = acc[c];
  }
}

}  // namespace

void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch,
                    const ScoreMods& mods) {
  const int64_t len16 = (len + kKeys - 1) & ~int64_t{kKeys - 1};
  float* kt = scratch;                    // len16 / kKeys panels of [head_dim][kKeys]
  float* scores = kt + len16 * head_dim;  // [kRows][len16]
  float* acc = scores + kRows * len16;    // [head_dim rounded to 8]
  for (int64_t j = 0; j < len16; ++j) {   // K rows read in order, zeros past len
    float* dst = kt + (j / kKeys) * head_dim * kKeys + j % kKeys;
    if (j < len) {
      for (int64_t c = 0; c < head_dim; ++c) dst[c * kKeys] = k[j * stride + c];
    } else {
      for (int64_t c = 0; c < head_dim; ++c) dst[c * kKeys] = 0.0f;
    }
  }
  const float scale = mods.scale_for(head_dim);

  for (int64_t i = 0; i < len; i += kRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kRows, len - i));
    const float* q_rows[kRows];
    float* out_rows[kRows];
    for (int r = 0; r < kRows; ++r) {
      // Missing rows of the last block repeat the first one; their results are dropped.
      q_rows[r] = q + (i + (r < rows ? r : 0)) * stride;
      out_rows[r] = out + (i + (r < rows ? r : 0)) * out_stride;
    }
    // Keys [first, last) are the ones this block's queries see (all of them without a window).
    const int64_t first = mods.first_key(i), last = mods.last_key(i + rows, len);
    for (int64_t j = first & ~int64_t{kKeys - 1}; j < last; j += kKeys) {
      score_tile(q_rows, kt + j * head_dim, head_dim, scores + j, len16);
    }
    for (int r = 0; r < rows; ++r) {
      float* row = scores + r * len16;
      if (mods.active()) {
        mods.apply(row, i + r, first, last, scale);
        scaled_softmax_row(row + first, last - first, 1.0f);
      } else {
        scaled_softmax_row(row, len, scale);
      }
    }
    const float* p = scores + first;
    const float* vf = v + first * stride;
    const int64_t n = last - first;
    switch (head_dim) {
      case 16:
        weighted_values<2, 6>(p, len16, rows, vf, stride, n, out_rows);
        break;
      case 32:
        weighted_values<4, 3>(p, len16, rows, vf, stride, n, out_rows);
        break;
      case 64:
        weighted_values<8, 1>(p, len16, rows, vf, stride, n, out_rows);
        break;
      default:
        weighted_values_generic(p, len16, rows, vf, stride, n, head_dim, acc, out_rows);
    }
  }
}

}  // namespace embedrt::kernels::avx2
