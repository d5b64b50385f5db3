#include "kernels/cpu/rotary.h"

#include <cmath>
#include <vector>

namespace embedrt::kernels {

void rotary_tables(int64_t positions, int64_t dim, double base, float* cos, float* sin,
                   double inv_freq_divisor) {
  const int64_t half = dim / 2;
  std::vector<float> inv_freq(half);
  for (int64_t k = 0; k < half; ++k) {
    // torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), all in fp32.
    const float exponent = static_cast<float>(2 * k) / static_cast<float>(dim);
    inv_freq[k] = 1.0f / std::pow(static_cast<float>(base), exponent);
    // torch: inv_freq / divisor, an fp32 tensor over a Python float.
    if (inv_freq_divisor != 1.0) inv_freq[k] /= static_cast<float>(inv_freq_divisor);
  }
  for (int64_t p = 0; p < positions; ++p) {
    for (int64_t k = 0; k < half; ++k) {
      const float angle = static_cast<float>(p) * inv_freq[k];
      cos[p * half + k] = std::cos(angle);
      sin[p * half + k] = std::sin(angle);
    }
  }
}

void apply_rotary(const RotaryArgs& a) {
  const int64_t half = a.dim / 2;
  const int64_t tokens = a.num_seqs > 0 ? a.offsets[a.num_seqs] : 0;
#pragma omp parallel for schedule(static) if (tokens > 64)
  for (int64_t s = 0; s < a.num_seqs; ++s) {
    for (int64_t t = a.offsets[s]; t < a.offsets[s + 1]; ++t) {
      const int64_t p = t - a.offsets[s];
      const float* c = a.cos + p * half;
      const float* sn = a.sin + p * half;
      for (const int64_t part : {int64_t{0}, a.second_offset}) {
        const int64_t heads =
            part == 0 || a.second_num_heads == 0 ? a.num_heads : a.second_num_heads;
        for (int64_t h = 0; h < heads; ++h) {
          float* x = a.x + t * a.row_stride + part + h * a.head_dim;
          if (a.interleaved) {
            for (int64_t k = 0; k < half; ++k) {
              const float x1 = x[2 * k], x2 = x[2 * k + 1];
              x[2 * k] = x1 * c[k] - x2 * sn[k];
              x[2 * k + 1] = x2 * c[k] + x1 * sn[k];
            }
          } else {
            for (int64_t k = 0; k < half; ++k) {
              const float x1 = x[k], x2 = x[k + half];
              x[k] = x1 * c[k] - x2 * sn[k];
              x[k + half] = x2 * c[k] + x1 * sn[k];
            }
          }
        }
      }
    }
  }
}

void gated_activation(Activation act, const float* x, int64_t rows, int64_t inner, float* out) {
#pragma omp parallel for schedule(static) if (rows > 16)
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * 2 * inner;
    float* o = out + r * inner;
    for (int64_t c = 0; c < inner; ++c) o[c] = in[c];
    apply_activation(act, o, inner);
    for (int64_t c = 0; c < inner; ++c) o[c] *= in[inner + c];
  }
}

}  // namespace embedrt::kernels
