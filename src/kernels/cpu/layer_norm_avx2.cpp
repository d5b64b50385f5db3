#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/layer_norm.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace embedrt::kernels::avx2 {
namespace {

inline __m256 load_sum(const float* x, const float* residual, int64_t c) {
  const __m256 v = _mm256_loadu_ps(x + c);
  return residual ? _mm256_add_ps(v, _mm256_loadu_ps(residual + c)) : v;
}

inline double horizontal_sum(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

}  // namespace

void add_layer_norm_row(const float* x, const float* residual, const float* gamma,
                        const float* beta, float eps, int64_t cols, float* out) {
  // One pass: sum and sum of squares, accumulated in double so that E[x^2] - E[x]^2 does not
  // cancel catastrophically when the mean is large against the spread.
  __m256d sum0 = _mm256_setzero_pd(), sum1 = _mm256_setzero_pd();
  __m256d sq0 = _mm256_setzero_pd(), sq1 = _mm256_setzero_pd();
  int64_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    const __m256 v = load_sum(x, residual, c);
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    sum0 = _mm256_add_pd(sum0, lo);
    sum1 = _mm256_add_pd(sum1, hi);
    sq0 = _mm256_fmadd_pd(lo, lo, sq0);
    sq1 = _mm256_fmadd_pd(hi, hi, sq1);
  }
  double sum = horizontal_sum(_mm256_add_pd(sum0, sum1));
  double sq = horizontal_sum(_mm256_add_pd(sq0, sq1));
  for (int64_t t = c; t < cols; ++t) {
    const double v = x[t] + (residual ? residual[t] : 0.0f);
    sum += v;
    sq += v * v;
  }
  const double mean = sum / double(cols);
  const double var = std::max(sq / double(cols) - mean * mean, 0.0);
  const float inv_std = static_cast<float>(1.0 / std::sqrt(var + double(eps)));
  const float mean_f = static_cast<float>(mean);
  // (v - mean) * inv_std rather than v * inv_std - mean * inv_std: with a tiny variance inv_std
  // is huge and the folded form would cancel catastrophically.
  const __m256 scale_v = _mm256_set1_ps(inv_std);
  const __m256 mean_v = _mm256_set1_ps(mean_f);
  for (c = 0; c + 8 <= cols; c += 8) {
    const __m256 n = _mm256_mul_ps(_mm256_sub_ps(load_sum(x, residual, c), mean_v), scale_v);
    _mm256_storeu_ps(out + c,
                     _mm256_fmadd_ps(n, _mm256_loadu_ps(gamma + c), _mm256_loadu_ps(beta + c)));
  }
  for (; c < cols; ++c) {
    const float v = x[c] + (residual ? residual[c] : 0.0f);
    out[c] = (v - mean_f) * inv_std * gamma[c] + beta[c];
  }
}

void rms_norm_row(const float* x, const float* gamma, float eps, int64_t cols, float* out,
                  const float* add) {
  // Squares in double: a float's square is exact there, so only the order of the sum differs from
  // the scalar row.
  __m256d sq0 = _mm256_setzero_pd(), sq1 = _mm256_setzero_pd();
  int64_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    const __m256 v = _mm256_loadu_ps(x + c);
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    sq0 = _mm256_fmadd_pd(lo, lo, sq0);
    sq1 = _mm256_fmadd_pd(hi, hi, sq1);
  }
  double squares = horizontal_sum(_mm256_add_pd(sq0, sq1));
  for (int64_t t = c; t < cols; ++t) squares += double(x[t]) * double(x[t]);
  const float inv = static_cast<float>(1.0 / std::sqrt(squares / double(cols) + double(eps)));
  // x * inv rounded to fp32 before the gamma multiply (transformers' order), no fused add.
  const __m256 inv_v = _mm256_set1_ps(inv);
  for (c = 0; c + 8 <= cols; c += 8) {
    __m256 y =
        _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + c), inv_v), _mm256_loadu_ps(gamma + c));
    if (add) y = _mm256_add_ps(_mm256_loadu_ps(add + c), y);
    _mm256_storeu_ps(out + c, y);
  }
  for (; c < cols; ++c) {
    const float y = (x[c] * inv) * gamma[c];
    out[c] = add ? add[c] + y : y;
  }
}

}  // namespace embedrt::kernels::avx2
