// Residual add followed by LayerNorm over the last dimension, fp32.
#pragma once

#include <cstdint>

namespace embedrt::kernels {

// For each row r < rows: out[r] = LayerNorm(x[r] + residual[r]) * gamma + beta, with mean and
// variance computed over `cols` in one pass (double accumulators). `residual` may be null; `out`
// may alias `x` or `residual`. Rows are independent, so a row's result never depends on the others.
void add_layer_norm(const float* x, const float* residual, const float* gamma, const float* beta,
                    float eps, int64_t rows, int64_t cols, float* out);

namespace scalar {
// Two-pass reference in double precision.
void add_layer_norm_row(const float* x, const float* residual, const float* gamma,
                        const float* beta, float eps, int64_t cols, float* out);
}  // namespace scalar
namespace avx2 {
void add_layer_norm_row(const float* x, const float* residual, const float* gamma,
                        const float* beta, float eps, int64_t cols, float* out);
}
namespace avx512 {
void add_layer_norm_row(const float* x, const float* residual, const float* gamma,
                        const float* beta, float eps, int64_t cols, float* out);
}

}  // namespace embedrt::kernels
