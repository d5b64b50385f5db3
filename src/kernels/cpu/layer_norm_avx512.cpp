#include "kernels/cpu/layer_norm.h"
#include "kernels/cpu/wide_simd.h"

namespace embedrt::kernels::avx512 {

void add_layer_norm_row(const float* x, const float* residual, const float* gamma,
                        const float* beta, float eps, int64_t cols, float* out) {
  wide::add_layer_norm_row(x, residual, gamma, beta, eps, cols, out);
}

void rms_norm_row(const float* x, const float* gamma, float eps, int64_t cols, float* out,
                  const float* add) {
  wide::rms_norm_row(x, gamma, eps, cols, out, add);
}

}  // namespace embedrt::kernels::avx512
