#include <immintrin.h>

#include <limits>

#include "kernels/cpu/softmax.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace embedrt::kernels::avx2 {

void scaled_softmax_row(float* x, int64_t cols, float scale) {
  using namespace avx2_math;
  const float lowest = -std::numeric_limits<float>::infinity();
  const int64_t full = cols & ~int64_t{7};
  const int rest = static_cast<int>(cols - full);
  __m256 max_v = _mm256_set1_ps(lowest);
  for (int64_t c = 0; c < full; c += 8) max_v = _mm256_max_ps(max_v, _mm256_loadu_ps(x + c));
  if (rest) max_v = _mm256_max_ps(max_v, load_partial(x + full, rest, lowest));
  // scale > 0, so max(scale * x) = scale * max(x).
  const __m256 shift = _mm256_set1_ps(-horizontal_max(max_v) * scale);
  const __m256 scale_v = _mm256_set1_ps(scale);
  __m256 sum_v = _mm256_setzero_ps();
  for (int64_t c = 0; c < full; c += 8) {
    const __m256 e = exp(_mm256_fmadd_ps(_mm256_loadu_ps(x + c), scale_v, shift));
    _mm256_storeu_ps(x + c, e);
    sum_v = _mm256_add_ps(sum_v, e);
  }
  if (rest) {
    __m256 e = exp(_mm256_fmadd_ps(load_partial(x + full, rest, 0.0f), scale_v, shift));
    store_partial(x + full, e, rest);
    const __m256 keep = _mm256_castsi256_ps(
        _mm256_cmpgt_epi32(_mm256_set1_epi32(rest), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    sum_v = _mm256_add_ps(sum_v, _mm256_and_ps(e, keep));
  }
  const __m256 inv = _mm256_set1_ps(1.0f / horizontal_sum(sum_v));
  for (int64_t c = 0; c < full; c += 8)
    _mm256_storeu_ps(x + c, _mm256_mul_ps(_mm256_loadu_ps(x + c), inv));
  for (int64_t c = full; c < cols; ++c) x[c] *= _mm256_cvtss_f32(inv);
}

}  // namespace embedrt::kernels::avx2
