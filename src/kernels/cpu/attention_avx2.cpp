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

struct HeadArgs {
  const float* v;
  int64_t stride;
  int64_t len;
  int64_t head_dim;
  const float* kt;
  float* scores;  // [kRows][ld]
  int64_t ld;
  const ScoreMods& mods;
  float scale;
};

// As wide_simd.h's two_pass_block: the whole softmax of a query block that sees at most
// kAttentionTwoPassKeys keys.
void two_pass_block(const HeadArgs& h, const float* const* q_rows, float* const* out_rows, int rows,
                    int64_t i, int64_t first, int64_t last, float* acc) {
  const int64_t j0 = first & ~int64_t{kKeys - 1};
  const int64_t j1 = (last + kKeys - 1) & ~int64_t{kKeys - 1};
  block_scores(q_rows, h.kt, h.head_dim, h.scores, h.ld, j0, j1);
  for (int r = 0; r < rows; ++r) {
    float* row = h.scores + r * h.ld + (first - j0);
    if (h.mods.active()) {
      h.mods.apply(row, i + r, first, last, h.scale);
      scaled_softmax_row(row, last - first, 1.0f);
    } else {
      scaled_softmax_row(row, h.len, h.scale);
    }
  }
  const float* p = h.scores + (first - j0);
  const float* vf = h.v + first * h.stride;
  const int64_t n = last - first;
  if (h.head_dim % 8 == 0) {
    const float* p_rows[kRows];
    for (int r = 0; r < kRows; ++r) p_rows[r] = p + r * h.ld;
    weighted_values(p_rows, rows, vf, h.stride, n, h.head_dim, nullptr, nullptr, out_rows);
  } else {
    weighted_values_generic(p, h.ld, rows, vf, h.stride, n, h.head_dim, acc, out_rows);
  }
}

// As wide_simd.h's online_softmax_block, with 8 lanes.
void online_softmax_block(float* row, int64_t j0, int64_t j1, int64_t lo, int64_t hi, int64_t i,
                          const ScoreMods& mods, float scale, float& m, float& l, float& alpha) {
  using namespace avx2_math;
  const float lowest = -INFINITY;
  for (int64_t j = j0; j < lo; ++j) row[j - j0] = lowest;
  for (int64_t j = hi; j < j1; ++j) row[j - j0] = lowest;
  float s = scale;
  if (mods.active()) {
    mods.apply(row + (lo - j0), i, lo, hi, scale);
    s = 1.0f;
  }
  const int64_t n = j1 - j0;
  __m256 max_v = _mm256_set1_ps(lowest);
  for (int64_t c = 0; c < n; c += 8) max_v = _mm256_max_ps(max_v, _mm256_loadu_ps(row + c));
  const float block_max = horizontal_max(max_v);
  if (block_max == lowest) {
    std::fill(row + (lo - j0), row + (hi - j0), 0.0f);
    alpha = 1.0f;
    return;
  }
  const float m_new = std::max(block_max, m);
  alpha = m == lowest ? 0.0f : std::exp((m - m_new) * s);
  const __m256 shift = _mm256_set1_ps(-m_new * s);
  const __m256 scale_v = _mm256_set1_ps(s);
  __m256 sum_v = _mm256_setzero_ps();
  for (int64_t c = 0; c < n; c += 8) {
    const __m256 e = exp(_mm256_fmadd_ps(_mm256_loadu_ps(row + c), scale_v, shift));
    _mm256_storeu_ps(row + c, e);
    sum_v = _mm256_add_ps(sum_v, e);
  }
  l = l * alpha + horizontal_sum(sum_v);
  m = m_new;
}

// Query blocks in groups of kStateRows rows: see wide_simd.h's online_rows.
constexpr int64_t kStateRows = kAttentionStateRows;
static_assert(kStateRows % kRows == 0, "the online state holds whole query blocks");

void online_rows(const HeadArgs& h, const float* q, int64_t q_stride, float* out,
                 int64_t out_stride, int64_t i0, int64_t i1, float* state) {
  const int64_t dim16 = (h.head_dim + 15) & ~int64_t{15};
  const int64_t dim_full = h.head_dim & ~int64_t{7};
  float* acc = state;  // [rows][dim16]
  float* run_max = acc + kAttentionStateRows * dim16;
  float* run_sum = run_max + kAttentionStateRows;
  for (int64_t r = 0; r < i1 - i0; ++r) {
    run_max[r] = -INFINITY;
    run_sum[r] = 0.0f;
    std::fill(acc + r * dim16, acc + r * dim16 + h.head_dim, 0.0f);
  }
  const int64_t key_begin = h.mods.first_key(i0), key_end = h.mods.last_key(i1, h.len);
  for (int64_t kb = key_begin - key_begin % kAttentionKeyBlock; kb < key_end;
       kb += kAttentionKeyBlock) {
    for (int64_t i = i0; i < i1; i += kRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, i1 - i));
      const int64_t lo = std::max(kb, h.mods.first_key(i));
      const int64_t hi = std::min(kb + kAttentionKeyBlock, h.mods.last_key(i + rows, h.len));
      if (lo >= hi) continue;
      const int64_t j0 = lo & ~int64_t{kKeys - 1};
      const int64_t j1 = (hi + kKeys - 1) & ~int64_t{kKeys - 1};
      const float* q_rows[kRows];
      const float* p_rows[kRows];
      float* acc_rows[kRows];
      float alpha[kRows];
      for (int r = 0; r < kRows; ++r) {
        // Missing rows of the last block repeat the first one; their results are dropped.
        const int64_t row = i + (r < rows ? r : 0);
        q_rows[r] = q + row * q_stride;
        p_rows[r] = h.scores + (r < rows ? r : 0) * h.ld + (lo - j0);
        acc_rows[r] = acc + (row - i0) * dim16;
      }
      block_scores(q_rows, h.kt, h.head_dim, h.scores, h.ld, j0, j1);
      for (int r = 0; r < rows; ++r) {
        online_softmax_block(h.scores + r * h.ld, j0, j1, lo, hi, i + r, h.mods, h.scale,
                             run_max[i - i0 + r], run_sum[i - i0 + r], alpha[r]);
      }
      const float* vb = h.v + lo * h.stride;
      weighted_values(p_rows, rows, vb, h.stride, hi - lo, dim_full, acc_rows, alpha, acc_rows);
      for (int r = 0; r < rows; ++r) {
        for (int64_t c = dim_full; c < h.head_dim; ++c) {
          float a = acc_rows[r][c] * alpha[r];
          for (int64_t t = 0; t < hi - lo; ++t) a = std::fma(p_rows[r][t], vb[t * h.stride + c], a);
          acc_rows[r][c] = a;
        }
      }
    }
  }
  for (int64_t r = 0; r < i1 - i0; ++r) {
    for (int64_t c = 0; c < h.head_dim; ++c) {
      out[(i0 + r) * out_stride + c] = acc[r * dim16 + c] / run_sum[r];
    }
  }
}

}  // namespace

void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch,
                    const ScoreMods& mods) {
  const int64_t len16 = (len + kKeys - 1) & ~int64_t{kKeys - 1};
  const int64_t len32 = (len + 31) & ~int64_t{31};
  const int64_t ld = attention_score_cols(len);
  const int64_t dim16 = (head_dim + 15) & ~int64_t{15};
  float* kt = scratch;                             // len16 / kKeys panels of [head_dim][kKeys]
  float* scores = kt + len32 * head_dim;           // [kRows][ld]
  float* acc = scores + kAttentionScoreRows * ld;  // [head_dim rounded to 16]
  float* state = acc + dim16;                      // online softmax, long sequences only
  for (int64_t j = 0; j < len16; ++j) {            // K rows read in order, zeros past len
    float* dst = kt + (j / kKeys) * head_dim * kKeys + j % kKeys;
    if (j < len) {
      for (int64_t c = 0; c < head_dim; ++c) dst[c * kKeys] = k[j * stride + c];
    } else {
      for (int64_t c = 0; c < head_dim; ++c) dst[c * kKeys] = 0.0f;
    }
  }
  const HeadArgs h{v, stride, len, head_dim, kt, scores, ld, mods, mods.scale_for(head_dim)};

  for (int64_t i = 0; i < len;) {
    const int rows = static_cast<int>(std::min<int64_t>(kRows, len - i));
    // Keys [first, last) are the ones this block's queries see (all of them without a window).
    const int64_t first = mods.first_key(i), last = mods.last_key(i + rows, len);
    if (last - first > kAttentionTwoPassKeys) {
      const int64_t end = std::min(len, i + kStateRows);
      online_rows(h, q, stride, out, out_stride, i, end, state);
      i = end;
      continue;
    }
    const float* q_rows[kRows];
    float* out_rows[kRows];
    for (int r = 0; r < kRows; ++r) {
      // Missing rows of the last block repeat the first one; their results are dropped.
      q_rows[r] = q + (i + (r < rows ? r : 0)) * stride;
      out_rows[r] = out + (i + (r < rows ? r : 0)) * out_stride;
    }
    two_pass_block(h, q_rows, out_rows, rows, i, first, last, acc);
    i += kRows;
  }
}

}  // namespace embedrt::kernels::avx2
