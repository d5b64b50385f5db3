// Compiled with -mavx2 -mfma -mf16c (tests/CMakeLists.txt). Kept apart from the GoogleTest code,
// which must stay at the baseline ISA: a test file built with AVX2 flags would run AVX2
// instructions in its static initializers and in any inline function the linker picked from it,
// before a test could skip on a CPU without AVX2. This file defines only plain functions.
#include <immintrin.h>

#include "kernels/cpu/vec_math_avx2.h"
#include "kernels/cpu/wide_simd.h"
#include "kernels/wide_simd_avx2.h"

namespace embedrt::kernels::wide16 {
namespace {

using wide::f32x16;
using wide::kLanes;

template <typename F>
void map(const float* x, int64_t n, float* y, F f) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) wide::store(y + i, f(wide::load(x + i)));
  if (i < n) {
    const int rest = static_cast<int>(n - i);
    wide::store_partial(y + i, f(wide::load_partial(x + i, rest, 0.0f)), rest);
  }
}

}  // namespace

void add_layer_norm_row(const float* x, const float* residual, const float* gamma,
                        const float* beta, float eps, int64_t cols, float* out) {
  wide::add_layer_norm_row(x, residual, gamma, beta, eps, cols, out);
}

void rms_norm_row(const float* x, const float* gamma, float eps, int64_t cols, float* out,
                  const float* add) {
  wide::rms_norm_row(x, gamma, eps, cols, out, add);
}

void scaled_softmax_row(float* x, int64_t cols, float scale) {
  wide::scaled_softmax_row(x, cols, scale);
}

void apply_activation(Activation act, float* x, int64_t n) { wide::apply_activation(act, x, n); }

void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch,
                    const ScoreMods& mods) {
  wide::attention_head(q, k, v, stride, len, head_dim, out, out_stride, scratch, mods);
}

void exp(const float* x, int64_t n, float* y) {
  map(x, n, y, [](f32x16 v) { return wide::exp(v); });
}

void erf(const float* x, int64_t n, float* y) {
  map(x, n, y, [](f32x16 v) { return wide::erf(v); });
}

void tanh(const float* x, int64_t n, float* y) {
  map(x, n, y, [](f32x16 v) { return wide::tanh(v); });
}

void exp_avx2(const float* x, int64_t n, float* y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, avx2_math::exp(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = _mm256_cvtss_f32(avx2_math::exp(_mm256_set1_ps(x[i])));
}

float horizontal_sum(const float* x16) { return wide::horizontal_sum(wide::load(x16)); }

float horizontal_max(const float* x16) { return wide::horizontal_max(wide::load(x16)); }

}  // namespace embedrt::kernels::wide16
