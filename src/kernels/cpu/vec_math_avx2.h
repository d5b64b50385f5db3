// AVX2+FMA approximations of exp and erf shared by the *_avx2.cpp kernels. Include only from
// files compiled with AVX2 flags.
#pragma once

#include <immintrin.h>

#include "kernels/cpu/erf_fit.h"

namespace embedrt::kernels::avx2_math {

// exp(x) with relative error below 2e-7 on [-87, 88]; inputs below -87 give 0.
inline __m256 exp(__m256 x) {
  const __m256 max_x = _mm256_set1_ps(88.3762626647949f);
  const __m256 min_x = _mm256_set1_ps(-87.3365478515625f);
  const __m256 underflow = _mm256_cmp_ps(x, min_x, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, min_x), max_x);
  // x = n ln2 + r with |r| <= ln2/2, split ln2 in two parts for accuracy (Cephes).
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
  p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  return _mm256_andnot_ps(underflow, y);
}

// erf(x) by the rational fit in erf_fit.h. It replaced the erfc form 1 - t exp(-x^2 + P(t)),
// whose exp and serial degree-9 polynomial made GELU 3.4x slower (1.4 against 0.42 ns a value on
// an AMD EPYC Zen 3) and cost 4-7% of a pass.
inline __m256 erf(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-erf_fit::kClamp)),
                    _mm256_set1_ps(erf_fit::kClamp));
  const __m256 x2 = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(erf_fit::kNumerator[0]);
#pragma GCC unroll 8
  for (int i = 1; i < erf_fit::kNumeratorTerms; ++i) {
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(erf_fit::kNumerator[i]));
  }
  __m256 q = _mm256_set1_ps(erf_fit::kDenominator[0]);
#pragma GCC unroll 8
  for (int i = 1; i < erf_fit::kDenominatorTerms; ++i) {
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(erf_fit::kDenominator[i]));
  }
  return _mm256_div_ps(_mm256_mul_ps(p, x), q);
}

// tanh(x) = 1 - 2 / (exp(2x) + 1), odd-symmetric so it stays accurate for negative x.
inline __m256 tanh(__m256 x) {
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
  const __m256 z = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = exp(_mm256_mul_ps(_mm256_set1_ps(-2.0f), z));
  const __m256 y = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
  return _mm256_or_ps(y, sign);
}

inline float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float horizontal_max(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Loads the first n (< 8) floats, the rest filled with `fill`.
inline __m256 load_partial(const float* p, int n, float fill) {
  alignas(32) float buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = i < n ? p[i] : fill;
  return _mm256_load_ps(buf);
}

inline void store_partial(float* p, __m256 v, int n) {
  alignas(32) float buf[8];
  _mm256_store_ps(buf, v);
  for (int i = 0; i < n; ++i) p[i] = buf[i];
}

}  // namespace embedrt::kernels::avx2_math
