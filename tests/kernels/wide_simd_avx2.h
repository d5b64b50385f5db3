// The 16-lane kernels of kernels/cpu/wide_simd.h, the code behind the avx512:: kernels, built
// with AVX2 flags (wide_simd_avx2.cpp) so that the tests can run them on machines without
// AVX-512. Call only when detect_cpu_isa() >= Isa::kAvx2.
#pragma once

#include <cstdint>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/attention.h"

namespace embedrt::kernels::wide16 {

void add_layer_norm_row(const float* x, const float* residual, const float* gamma,
                        const float* beta, float eps, int64_t cols, float* out);
void rms_norm_row(const float* x, const float* gamma, float eps, int64_t cols, float* out,
                  const float* add);
void scaled_softmax_row(float* x, int64_t cols, float scale);
void apply_activation(Activation act, float* x, int64_t n);
void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch,
                    const ScoreMods& mods = {});

// The vector helpers, element-wise over n floats (any n: the tail goes through the partial
// loads and stores).
void exp(const float* x, int64_t n, float* y);
void erf(const float* x, int64_t n, float* y);
void tanh(const float* x, int64_t n, float* y);
// avx2_math::exp over n floats, built in the same translation unit, for bit-for-bit comparison.
void exp_avx2(const float* x, int64_t n, float* y);

// Over one vector of 16 floats.
float horizontal_sum(const float* x16);
float horizontal_max(const float* x16);

}  // namespace embedrt::kernels::wide16
