#include "kernels/cpu/layer_norm.h"

#include <omp.h>

#include <cmath>

#include "kernels/cpu/cpu_features.h"

namespace embedrt::kernels {

void add_layer_norm(const float* x, const float* residual, const float* gamma, const float* beta,
                    float eps, int64_t rows, int64_t cols, float* out) {
  const Isa isa = active_isa();
  const auto row_kernel = isa >= Isa::kAvx512 ? &avx512::add_layer_norm_row
                          : isa >= Isa::kAvx2 ? &avx2::add_layer_norm_row
                                              : &scalar::add_layer_norm_row;
#pragma omp parallel for schedule(static) if (rows * cols > 32768 && !omp_in_parallel())
  for (int64_t r = 0; r < rows; ++r) {
    row_kernel(x + r * cols, residual ? residual + r * cols : nullptr, gamma, beta, eps, cols,
               out + r * cols);
  }
}

namespace {

using RmsRow = void (*)(const float* x, const float* gamma, float eps, int64_t cols, float* out,
                        const float* add);

RmsRow rms_row_kernel() {
  const Isa isa = active_isa();
  return isa >= Isa::kAvx512 ? &avx512::rms_norm_row
         : isa >= Isa::kAvx2 ? &avx2::rms_norm_row
                             : &scalar::rms_norm_row;
}

}  // namespace

void rms_norm(const float* x, const float* gamma, float eps, int64_t rows, int64_t cols,
              int64_t stride, float* out, const float* add) {
  const RmsRow row_kernel = rms_row_kernel();
#pragma omp parallel for schedule(static) if (rows * cols > 32768 && !omp_in_parallel())
  for (int64_t r = 0; r < rows; ++r) {
    row_kernel(x + r * stride, gamma, eps, cols, out + r * stride,
               add ? add + r * stride : nullptr);
  }
}

void rms_norm_heads(float* x, int64_t tokens, int64_t row_stride, int64_t heads, int64_t head_dim,
                    const float* gamma, float eps) {
  const RmsRow row_kernel = rms_row_kernel();
#pragma omp parallel for schedule(static) if (tokens * heads * head_dim > 32768 && \
                                              !omp_in_parallel())
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + t * row_stride + h * head_dim;
      row_kernel(v, gamma, eps, head_dim, v, nullptr);
    }
  }
}

namespace scalar {

void rms_norm_row(const float* x, const float* gamma, float eps, int64_t cols, float* out,
                  const float* add) {
  double squares = 0;
  for (int64_t c = 0; c < cols; ++c) squares += double(x[c]) * double(x[c]);
  const float inv = static_cast<float>(1.0 / std::sqrt(squares / double(cols) + double(eps)));
  if (add) {
    for (int64_t c = 0; c < cols; ++c) out[c] = add[c] + (x[c] * inv) * gamma[c];
  } else {
    for (int64_t c = 0; c < cols; ++c) out[c] = (x[c] * inv) * gamma[c];
  }
}

void add_layer_norm_row(const float* x, const float* residual, const float* gamma,
                        const float* beta, float eps, int64_t cols, float* out) {
  // The sum is rounded to fp32 first, as the model computes it; the statistics are exact.
  const auto value = [&](int64_t c) { return double(residual ? x[c] + residual[c] : x[c]); };
  double mean = 0;
  for (int64_t c = 0; c < cols; ++c) mean += value(c);
  mean /= double(cols);
  double var = 0;
  for (int64_t c = 0; c < cols; ++c) var += (value(c) - mean) * (value(c) - mean);
  var /= double(cols);
  const double inv_std = 1.0 / std::sqrt(var + double(eps));
  for (int64_t c = 0; c < cols; ++c) {
    out[c] = static_cast<float>((value(c) - mean) * inv_std * gamma[c] + beta[c]);
  }
}

}  // namespace scalar
}  // namespace embedrt::kernels
