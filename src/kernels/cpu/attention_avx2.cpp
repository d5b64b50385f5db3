#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace embedrt::kernels::avx2 {
namespace {

// Query rows handled together: their scores share every load of K.
constexpr int64_t kRows = 4;

// scores[r][j] = q_r . k_j for r < kRows, j < len8 (zero-padded K columns give 0). Every score is
// one FMA chain over c in order, so the grouping of rows does not change its bits.
void block_scores(const float* const* q, const float* kt, int64_t len8, int64_t head_dim,
                  float* scores) {
  int64_t j = 0;
  for (; j + 16 <= len8; j += 16) {
    __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps();
    __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();
    __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps();
    __m256 a30 = _mm256_setzero_ps(), a31 = _mm256_setzero_ps();
    for (int64_t c = 0; c < head_dim; ++c) {
      const __m256 k0 = _mm256_load_ps(kt + c * len8 + j);
      const __m256 k1 = _mm256_load_ps(kt + c * len8 + j + 8);
      __m256 b = _mm256_broadcast_ss(q[0] + c);
      a00 = _mm256_fmadd_ps(b, k0, a00);
      a01 = _mm256_fmadd_ps(b, k1, a01);
      b = _mm256_broadcast_ss(q[1] + c);
      a10 = _mm256_fmadd_ps(b, k0, a10);
      a11 = _mm256_fmadd_ps(b, k1, a11);
      b = _mm256_broadcast_ss(q[2] + c);
      a20 = _mm256_fmadd_ps(b, k0, a20);
      a21 = _mm256_fmadd_ps(b, k1, a21);
      b = _mm256_broadcast_ss(q[3] + c);
      a30 = _mm256_fmadd_ps(b, k0, a30);
      a31 = _mm256_fmadd_ps(b, k1, a31);
    }
    _mm256_store_ps(scores + 0 * len8 + j, a00);
    _mm256_store_ps(scores + 0 * len8 + j + 8, a01);
    _mm256_store_ps(scores + 1 * len8 + j, a10);
    _mm256_store_ps(scores + 1 * len8 + j + 8, a11);
    _mm256_store_ps(scores + 2 * len8 + j, a20);
    _mm256_store_ps(scores + 2 * len8 + j + 8, a21);
    _mm256_store_ps(scores + 3 * len8 + j, a30);
    _mm256_store_ps(scores + 3 * len8 + j + 8, a31);
  }
  for (; j < len8; j += 8) {
    __m256 a[kRows] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps()};
    for (int64_t c = 0; c < head_dim; ++c) {
      const __m256 k0 = _mm256_load_ps(kt + c * len8 + j);
      for (int64_t r = 0; r < kRows; ++r) {
        a[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(q[r] + c), k0, a[r]);
      }
    }
    for (int64_t r = 0; r < kRows; ++r) _mm256_store_ps(scores + r * len8 + j, a[r]);
  }
}

// out_r = sum_t p_r[t] v_t for `rows` rows, head_dim = 8 * kVectors, accumulators in registers.
// Each element is one FMA chain over t in order, like the generic path.
template <int kVectors>
void weighted_values(const float* p, int64_t len8, int rows, const float* v, int64_t stride,
                     int64_t len, float* const* out) {
  constexpr int kPair = kVectors <= 4 ? 2 : 1;
  for (int r0 = 0; r0 < rows; r0 += kPair) {
    const int n = std::min(kPair, rows - r0);
    __m256 acc[kPair][kVectors];
    for (int r = 0; r < kPair; ++r) {
      for (int x = 0; x < kVectors; ++x) acc[r][x] = _mm256_setzero_ps();
    }
    for (int64_t t = 0; t < len; ++t) {
      const float* vt = v + t * stride;
      __m256 vv[kVectors];
      for (int x = 0; x < kVectors; ++x) vv[x] = _mm256_loadu_ps(vt + 8 * x);
      for (int r = 0; r < kPair; ++r) {
        const __m256 w = _mm256_broadcast_ss(p + (r0 + (r < n ? r : 0)) * len8 + t);
        for (int x = 0; x < kVectors; ++x) acc[r][x] = _mm256_fmadd_ps(w, vv[x], acc[r][x]);
      }
    }
    for (int r = 0; r < n; ++r) {
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
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch) {
  const int64_t len8 = (len + 7) & ~int64_t{7};
  float* kt = scratch;                   // [head_dim][len8], zero beyond len
  float* scores = kt + head_dim * len8;  // [kRows][len8]
  float* acc = scores + kRows * len8;    // [head_dim rounded to 8]
  for (int64_t c = 0; c < head_dim; ++c) {
    float* row = kt + c * len8;
    for (int64_t j = 0; j < len; ++j) row[j] = k[j * stride + c];
    for (int64_t j = len; j < len8; ++j) row[j] = 0.0f;
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));

  for (int64_t i = 0; i < len; i += kRows) {
    const int rows = static_cast<int>(std::min(kRows, len - i));
    const float* q_rows[kRows];
    float* out_rows[kRows];
    for (int r = 0; r < kRows; ++r) {
      // Missing rows of the last block repeat the first one; their results are dropped.
      q_rows[r] = q + (i + (r < rows ? r : 0)) * stride;
      out_rows[r] = out + (i + (r < rows ? r : 0)) * out_stride;
    }
    block_scores(q_rows, kt, len8, head_dim, scores);
    for (int r = 0; r < rows; ++r) scaled_softmax_row(scores + r * len8, len, scale);
    switch (head_dim) {
      case 16:
        weighted_values<2>(scores, len8, rows, v, stride, len, out_rows);
        break;
      case 32:
        weighted_values<4>(scores, len8, rows, v, stride, len, out_rows);
        break;
      case 64:
        weighted_values<8>(scores, len8, rows, v, stride, len, out_rows);
        break;
      default:
        weighted_values_generic(scores, len8, rows, v, stride, len, head_dim, acc, out_rows);
    }
  }
}

}  // namespace embedrt::kernels::avx2
