#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/attention_driver.h"
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

// out_r[c0, c0 + 8 * kVectors) = init_r * alpha_r + sum_t p_r[t] v_t for `rows` rows (init
// nullptr: 0), kPass rows at a time with kPass * kVectors accumulators (12: as many independent
// chains as the score tile). Each element is one FMA chain over t in order, like the generic path.
// V is read through memory operands, as its registers would not fit beside the accumulators.
template <int kVectors, int kPass>
void weighted_values_tile(const float* const* p, int rows, const float* v, int64_t stride,
                          int64_t count, const float* const* init, const float* alpha,
                          float* const* out, int64_t c0) {
  for (int r0 = 0; r0 < rows; r0 += kPass) {
    const int n = std::min(kPass, rows - r0);
    const float* p_rows[kPass];
#pragma GCC unroll 6
    for (int r = 0; r < kPass; ++r) p_rows[r] = p[r0 + (r < n ? r : 0)];
    __m256 acc[kPass][kVectors];
#pragma GCC unroll 6
    for (int r = 0; r < kPass; ++r) {
      const __m256 a = _mm256_set1_ps(init && r < n ? alpha[r0 + r] : 0.0f);
#pragma GCC unroll 8
      for (int x = 0; x < kVectors; ++x) {
        acc[r][x] = init && r < n ? _mm256_mul_ps(_mm256_loadu_ps(init[r0 + r] + c0 + 8 * x), a)
                                  : _mm256_setzero_ps();
      }
    }
    for (int64_t t = 0; t < count; ++t) {
      const float* vt = v + t * stride + c0;
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
      for (int x = 0; x < kVectors; ++x) _mm256_storeu_ps(out[r0 + r] + c0 + 8 * x, acc[r][x]);
    }
  }
}

// weighted_values_tile over the first dim_full (a multiple of 8) columns, in tiles of 32 columns
// (64 in one tile, as it always was).
void weighted_values(const float* const* p, int rows, const float* v, int64_t stride, int64_t count,
                     int64_t dim_full, const float* const* init, const float* alpha,
                     float* const* out) {
  if (dim_full == 64)
    return weighted_values_tile<8, 1>(p, rows, v, stride, count, init, alpha, out, 0);
  int64_t c = 0;
  for (; c + 32 <= dim_full; c += 32) {
    weighted_values_tile<4, 3>(p, rows, v, stride, count, init, alpha, out, c);
  }
  switch ((dim_full - c) / 8) {
    case 3:
      weighted_values_tile<3, 4>(p, rows, v, stride, count, init, alpha, out, c);
      break;
    case 2:
      weighted_values_tile<2, 6>(p, rows, v, stride, count, init, alpha, out, c);
      break;
    case 1:
      weighted_values_tile<1, 6>(p, rows, v, stride, count, init, alpha, out, c);
      break;
    default:
      break;
  }
}

void weighted_values_generic(const float* p, int64_t ld_p, int rows, const float* v, int64_t stride,
                             int64_t len, int64_t head_dim, float* acc, float* const* out) {
  const int64_t dim_full = head_dim & ~int64_t{7};
  const int64_t dim8 = (head_dim + 7) & ~int64_t{7};
  for (int r = 0; r < rows; ++r) {
    const float* pr = p + r * ld_p;
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

// scores[r][j - j0] for r < kRows and keys [j0, end), both multiples of kKeys, rows ld apart.
void block_scores(const float* const* q, const float* kt, int64_t head_dim, float* scores,
                  int64_t ld, int64_t j0, int64_t end) {
  for (int64_t j = j0; j < end; j += kKeys) {
    score_tile(q, kt + j * head_dim, head_dim, scores + (j - j0), ld);
  }
}

// The largest of row[0, n), n a multiple of 8.
float row_max(const float* row, int64_t n) {
  __m256 max_v = _mm256_set1_ps(-INFINITY);
  for (int64_t c = 0; c < n; c += 8) max_v = _mm256_max_ps(max_v, _mm256_loadu_ps(row + c));
  return avx2_math::horizontal_max(max_v);
}

// row[c] = exp(row[c] * scale + shift) for c < n (a multiple of 8); returns their sum.
float exp_row(float* row, int64_t n, float scale, float shift) {
  const __m256 shift_v = _mm256_set1_ps(shift), scale_v = _mm256_set1_ps(scale);
  __m256 sum_v = _mm256_setzero_ps();
  for (int64_t c = 0; c < n; c += 8) {
    const __m256 e = avx2_math::exp(_mm256_fmadd_ps(_mm256_loadu_ps(row + c), scale_v, shift_v));
    _mm256_storeu_ps(row + c, e);
    sum_v = _mm256_add_ps(sum_v, e);
  }
  return avx2_math::horizontal_sum(sum_v);
}

// The tiles above, as the shared attention driver (attention_driver.h) takes them.
struct AttentionTiles {
  static constexpr int kRows = avx2::kRows;
  static constexpr int64_t kKeys = avx2::kKeys, kLanes = 8, kPanel = avx2::kKeys;
  static constexpr auto block_scores = &avx2::block_scores;
  static constexpr auto softmax_row = &avx2::scaled_softmax_row;
  static constexpr auto weighted_values = &avx2::weighted_values;
  static constexpr auto weighted_values_generic = &avx2::weighted_values_generic;
  static constexpr auto row_max = &avx2::row_max;
  static constexpr auto exp_row = &avx2::exp_row;
};

}  // namespace

void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch,
                    const ScoreMods& mods) {
  attention_driver::attention_head<AttentionTiles>(q, k, v, stride, len, head_dim, out, out_stride,
                                                   scratch, mods);
}

}  // namespace embedrt::kernels::avx2
