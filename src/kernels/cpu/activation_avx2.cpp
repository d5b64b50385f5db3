#include <immintrin.h>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace embedrt::kernels::avx2 {
namespace {

template <Activation kAct>
inline __m256 activate(__m256 x) {
  if constexpr (kAct == Activation::kGeluErf) {
    const __m256 e = avx2_math::erf(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x),
                         _mm256_add_ps(_mm256_set1_ps(1.0f), e));
  } else if constexpr (kAct == Activation::kGeluTanh) {
    const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    const __m256 inner = _mm256_mul_ps(_mm256_set1_ps(0.79788456080286536f),
                                       _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x),
                         _mm256_add_ps(_mm256_set1_ps(1.0f), avx2_math::tanh(inner)));
  } else if constexpr (kAct == Activation::kRelu) {
    return _mm256_max_ps(x, _mm256_setzero_ps());
  } else if constexpr (kAct == Activation::kSilu) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 e = avx2_math::exp(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(one, e));
  } else {
    return x;
  }
}

template <Activation kAct>
void apply(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, activate<kAct>(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const int rest = static_cast<int>(n - i);
    avx2_math::store_partial(x + i, activate<kAct>(avx2_math::load_partial(x + i, rest, 0.0f)),
                             rest);
  }
}

}  // namespace

void apply_activation(Activation act, float* x, int64_t n) {
  switch (act) {
    case Activation::kNone:
      return;
    case Activation::kGeluErf:
      return apply<Activation::kGeluErf>(x, n);
    case Activation::kGeluTanh:
      return apply<Activation::kGeluTanh>(x, n);
    case Activation::kRelu:
      return apply<Activation::kRelu>(x, n);
    case Activation::kSilu:
      return apply<Activation::kSilu>(x, n);
  }
}

}  // namespace embedrt::kernels::avx2
