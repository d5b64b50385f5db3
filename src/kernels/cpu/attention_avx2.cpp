#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace embedrt::kernels::avx2 {

void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch) {
  const int64_t len8 = (len + 7) & ~int64_t{7};
  const int64_t dim8 = (head_dim + 7) & ~int64_t{7};
  float* kt = scratch;                   // [head_dim][len8], zero beyond len
  float* scores = kt + head_dim * len8;  // [len8]
  float* acc = scores + len8;            // [dim8]
  for (int64_t c = 0; c < head_dim; ++c) {
    float* row = kt + c * len8;
    for (int64_t j = 0; j < len; ++j) row[j] = k[j * stride + c];
    for (int64_t j = len; j < len8; ++j) row[j] = 0.0f;
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const int64_t dim_full = head_dim & ~int64_t{7};

  for (int64_t i = 0; i < len; ++i) {
    const float* qi = q + i * stride;
    // Scores: four 8-wide column blocks at a time keep four independent FMA chains in flight.
    int64_t j = 0;
    for (; j + 32 <= len8; j += 32) {
      __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
      __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
      for (int64_t c = 0; c < head_dim; ++c) {
        const __m256 qc = _mm256_broadcast_ss(qi + c);
        const float* row = kt + c * len8 + j;
        s0 = _mm256_fmadd_ps(qc, _mm256_load_ps(row), s0);
        s1 = _mm256_fmadd_ps(qc, _mm256_load_ps(row + 8), s1);
        s2 = _mm256_fmadd_ps(qc, _mm256_load_ps(row + 16), s2);
        s3 = _mm256_fmadd_ps(qc, _mm256_load_ps(row + 24), s3);
      }
      _mm256_store_ps(scores + j, s0);
      _mm256_store_ps(scores + j + 8, s1);
      _mm256_store_ps(scores + j + 16, s2);
      _mm256_store_ps(scores + j + 24, s3);
    }
    for (; j < len8; j += 8) {
      __m256 s0 = _mm256_setzero_ps();
      for (int64_t c = 0; c < head_dim; ++c) {
        s0 = _mm256_fmadd_ps(_mm256_broadcast_ss(qi + c), _mm256_load_ps(kt + c * len8 + j), s0);
      }
      _mm256_store_ps(scores + j, s0);
    }
    scaled_softmax_row(scores, len, scale);

    for (int64_t c = 0; c < dim8; c += 8) _mm256_store_ps(acc + c, _mm256_setzero_ps());
    for (int64_t t = 0; t < len; ++t) {
      const __m256 p = _mm256_broadcast_ss(scores + t);
      const float* vt = v + t * stride;
      int64_t c = 0;
      for (; c < dim_full; c += 8) {
        _mm256_store_ps(acc + c,
                        _mm256_fmadd_ps(p, _mm256_loadu_ps(vt + c), _mm256_load_ps(acc + c)));
      }
      for (; c < head_dim; ++c) acc[c] += scores[t] * vt[c];
    }
    float* oi = out + i * out_stride;
    for (int64_t c = 0; c < head_dim; ++c) oi[c] = acc[c];
  }
}

}  // namespace embedrt::kernels::avx2
