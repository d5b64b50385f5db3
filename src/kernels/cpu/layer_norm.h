// Residual add followed by LayerNorm over the last dimension, fp32.
#pragma once

#include <cstdint>

namespace embedrt::kernels {

// For each row r < rows: out[r] = LayerNorm(x[r] + residual[r]) * gamma + beta, with mean and
// variance computed over `cols` in one pass (double accumulators). `residual` may be null; `out`
// may alias `x` or `residual`. Rows are independent, so a row's result never depends on the others.
// These run on all threads, or on the calling one alone inside a parallel region.
void add_layer_norm(const float* x, const float* residual, const float* gamma, const float* beta,
                    float eps, int64_t rows, int64_t cols, float* out);

// RMSNorm (T5, Llama, Qwen3, Gemma) over `rows` rows of `cols`, each `stride` floats apart:
// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * gamma (+ add[r] when `add` is set: a residual added
// after the norm, as Gemma's post-attention and post-feedforward norms). The mean of squares is
// accumulated in double; the normalized value is rounded to fp32 before the gamma multiply, as
// transformers does. out and add rows share x's stride; out may alias x or add.
void rms_norm(const float* x, const float* gamma, float eps, int64_t rows, int64_t cols,
              int64_t stride, float* out, const float* add = nullptr);

// rms_norm in place on `heads` consecutive head vectors of `head_dim` at the start of each of
// `tokens` rows `row_stride` apart (per-head query/key norms inside a fused QKV row).
void rms_norm_heads(float* x, int64_t tokens, int64_t row_stride, int64_t heads, int64_t head_dim,
                    const float* gamma, float eps);

namespace scalar {
// Two-pass reference in double precision.
void add_layer_norm_row(const float* x, const float* residual, const float* gamma,
                        const float* beta, float eps, int64_t cols, float* out);
// One row of rms_norm: squares summed in double in column order, then (x * inv) * gamma (+ add),
// each product rounded to fp32. out may alias x or add.
void rms_norm_row(const float* x, const float* gamma, float eps, int64_t cols, float* out,
                  const float* add);
}  // namespace scalar
// The SIMD rows sum the squares in double lanes, so only the order of that sum differs from the
// scalar row (an output can move by an ulp when inv rounds the other way); the products and the
// add are the same fp32 operations, not fused.
namespace avx2 {
void add_layer_norm_row(const float* x, const float* residual, const float* gamma,
                        const float* beta, float eps, int64_t cols, float* out);
void rms_norm_row(const float* x, const float* gamma, float eps, int64_t cols, float* out,
                  const float* add);
}  // namespace avx2
namespace avx512 {
void add_layer_norm_row(const float* x, const float* residual, const float* gamma,
                        const float* beta, float eps, int64_t cols, float* out);
void rms_norm_row(const float* x, const float* gamma, float eps, int64_t cols, float* out,
                  const float* add);
}  // namespace avx512

}  // namespace embedrt::kernels
