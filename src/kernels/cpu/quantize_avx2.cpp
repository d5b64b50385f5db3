#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu/quantize.h"

namespace embedrt::kernels::avx2 {
namespace {

inline float horizontal_min(__m256 v) {
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_min_ss(m, _mm_movehdup_ps(m)));
}

inline float horizontal_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

}  // namespace

void quantize_row_u8(const float* x, int64_t cols, int32_t qmax, uint8_t* q, float* scale,
                     int32_t* zero_point) {
  __m256 lo8 = _mm256_setzero_ps(), hi8 = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    const __m256 v = _mm256_loadu_ps(x + c);
    lo8 = _mm256_min_ps(lo8, v);
    hi8 = _mm256_max_ps(hi8, v);
  }
  float lo = horizontal_min(lo8), hi = horizontal_max(hi8);
  for (int64_t t = c; t < cols; ++t) {
    lo = std::min(lo, x[t]);
    hi = std::max(hi, x[t]);
  }
  const float s = hi > lo ? (hi - lo) / float(qmax) : 1.0f;
  const float inv = 1.0f / s;
  const float zp = std::clamp(std::nearbyint(-lo * inv), 0.0f, float(qmax));
  const __m256 inv8 = _mm256_set1_ps(inv);
  const __m256i zp8 = _mm256_set1_epi32(static_cast<int32_t>(zp));
  const __m256i max8 = _mm256_set1_epi32(qmax);
  const __m256i zero = _mm256_setzero_si256();
  // The two packs interleave the 128-bit lanes: dword k holds 4 bytes from i[k % 4], lane k / 4;
  // the permute puts them back in column order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  c = 0;
  for (; c + 32 <= cols; c += 32) {
    __m256i i[4];
    for (int k = 0; k < 4; ++k) {
      const __m256i r = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + c + 8 * k), inv8));
      i[k] = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, zp8), zero), max8);
    }
    const __m256i w01 = _mm256_packus_epi32(i[0], i[1]);
    const __m256i w23 = _mm256_packus_epi32(i[2], i[3]);
    const __m256i b = _mm256_packus_epi16(w01, w23);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + c), _mm256_permutevar8x32_epi32(b, order));
  }
  for (; c < cols; ++c) {
    const float v = std::nearbyint(x[c] * inv) + zp;
    q[c] = static_cast<uint8_t>(std::clamp(v, 0.0f, float(qmax)));
  }
  *scale = s;
  *zero_point = static_cast<int32_t>(zp);
}

void dequantize_row(const int32_t* acc, int64_t cols, float row_scale, int32_t zero_point,
                    const float* col_scales, const int32_t* col_sums, const float* bias, float* y) {
  const __m256 rs = _mm256_set1_ps(row_scale);
  const __m256i zp = _mm256_set1_epi32(zero_point);
  int64_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + c));
    const __m256i sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col_sums + c));
    const __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(a, _mm256_mullo_epi32(zp, sums)));
    const __m256 scale = _mm256_mul_ps(rs, _mm256_loadu_ps(col_scales + c));
    const __m256 b = bias ? _mm256_loadu_ps(bias + c) : _mm256_setzero_ps();
    _mm256_storeu_ps(y + c, _mm256_fmadd_ps(v, scale, b));
  }
  if (c < cols) {
    scalar::dequantize_row(acc + c, cols - c, row_scale, zero_point, col_scales + c, col_sums + c,
                           bias ? bias + c : nullptr, y + c);
  }
}

void float_to_bf16(const float* x, int64_t n, uint16_t* y) {
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i round = _mm256_set1_epi32(0x7fff);
  const __m256i quiet = _mm256_set1_epi32(0x400000);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i h[2];
    for (int k = 0; k < 2; ++k) {
      const __m256 v = _mm256_loadu_ps(x + i + 8 * k);
      const __m256i bits = _mm256_castps_si256(v);
      const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), one);
      const __m256i rounded = _mm256_add_epi32(bits, _mm256_add_epi32(round, lsb));
      const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      const __m256i r = _mm256_blendv_epi8(rounded, _mm256_or_si256(bits, quiet), nan);
      h[k] = _mm256_srli_epi32(r, 16);
    }
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(h[0], h[1]), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), packed);
  }
  scalar::float_to_bf16(x + i, n - i, y + i);
}

void float_to_half(const float* x, int64_t n, uint16_t* y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), h);
  }
  scalar::float_to_half(x + i, n - i, y + i);
}

void half_to_float(const uint16_t* x, int64_t n, float* y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i));
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
  }
  scalar::half_to_float(x + i, n - i, y + i);
}

}  // namespace embedrt::kernels::avx2
