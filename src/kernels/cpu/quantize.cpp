#include "kernels/cpu/quantize.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/cpu_features.h"

namespace embedrt::kernels {

void quantize_rows_u8(const float* x, int64_t rows, int64_t cols, int32_t qmax, uint8_t* q,
                      float* scales, int32_t* zero_points) {
  const auto row_kernel =
      active_isa() >= Isa::kAvx2 ? &avx2::quantize_row_u8 : &scalar::quantize_row_u8;
#pragma omp parallel for schedule(static) if (rows * cols > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    row_kernel(x + r * cols, cols, qmax, q + r * cols, scales + r, zero_points + r);
  }
}

void quantize_weights_s8(const float* w, int64_t out, int64_t in, int32_t qmax, int8_t* q,
                         float* scales) {
  for (int64_t o = 0; o < out; ++o) {
    const float* row = w + o * in;
    float peak = 0;
    for (int64_t i = 0; i < in; ++i) peak = std::max(peak, std::fabs(row[i]));
    const float scale = peak > 0 ? peak / float(qmax) : 1.0f;
    scales[o] = scale;
    for (int64_t i = 0; i < in; ++i) {
      const float v = std::nearbyint(row[i] / scale);
      q[o * in + i] = static_cast<int8_t>(std::clamp(v, -float(qmax), float(qmax)));
    }
  }
}

void dequantize_rows(const int32_t* acc, int64_t rows, int64_t cols, const float* row_scales,
                     const int32_t* zero_points, const float* col_scales, const int32_t* col_sums,
                     const float* bias, float* y) {
  const auto row_kernel =
      active_isa() >= Isa::kAvx2 ? &avx2::dequantize_row : &scalar::dequantize_row;
#pragma omp parallel for schedule(static) if (rows * cols > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    row_kernel(acc + r * cols, cols, row_scales[r], zero_points[r], col_scales, col_sums, bias,
               y + r * cols);
  }
}

void float_to_bf16(const float* x, int64_t n, uint16_t* y) {
  const auto kernel = active_isa() >= Isa::kAvx2 ? &avx2::float_to_bf16 : &scalar::float_to_bf16;
  constexpr int64_t kChunk = 16384;
#pragma omp parallel for schedule(static) if (n > 2 * kChunk)
  for (int64_t begin = 0; begin < n; begin += kChunk) {
    kernel(x + begin, std::min(kChunk, n - begin), y + begin);
  }
}

void float_to_half(const float* x, int64_t n, uint16_t* y) {
  (active_isa() >= Isa::kAvx2 ? &avx2::float_to_half : &scalar::float_to_half)(x, n, y);
}

void half_to_float(const uint16_t* x, int64_t n, float* y) {
  (active_isa() >= Isa::kAvx2 ? &avx2::half_to_float : &scalar::half_to_float)(x, n, y);
}

void bf16_to_float(const uint16_t* x, int64_t n, float* y) {
  // A shift the compiler vectorizes at any ISA level.
  for (int64_t i = 0; i < n; ++i) y[i] = std::bit_cast<float>(uint32_t(x[i]) << 16);
}

namespace scalar {

void quantize_row_u8(const float* x, int64_t cols, int32_t qmax, uint8_t* q, float* scale,
                     int32_t* zero_point) {
  float lo = 0, hi = 0;
  for (int64_t c = 0; c < cols; ++c) {
    lo = std::min(lo, x[c]);
    hi = std::max(hi, x[c]);
  }
  const float s = hi > lo ? (hi - lo) / float(qmax) : 1.0f;
  const float inv = 1.0f / s;
  const float zp = std::clamp(std::nearbyint(-lo * inv), 0.0f, float(qmax));
  for (int64_t c = 0; c < cols; ++c) {
    // Rounded before the zero point is added, as the AVX2 version does (both exact integers).
    const float v = std::nearbyint(x[c] * inv) + zp;
    q[c] = static_cast<uint8_t>(std::clamp(v, 0.0f, float(qmax)));
  }
  *scale = s;
  *zero_point = static_cast<int32_t>(zp);
}

void dequantize_row(const int32_t* acc, int64_t cols, float row_scale, int32_t zero_point,
                    const float* col_scales, const int32_t* col_sums, const float* bias, float* y) {
  for (int64_t c = 0; c < cols; ++c) {
    int32_t a;
    std::memcpy(&a, acc + c, sizeof a);  // `y` may alias `acc`
    const float v = std::fma(float(a - zero_point * col_sums[c]), row_scale * col_scales[c],
                             bias ? bias[c] : 0.0f);
    std::memcpy(y + c, &v, sizeof v);
  }
}

void float_to_bf16(const float* x, int64_t n, uint16_t* y) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = std::bit_cast<uint32_t>(x[i]);
    if (std::isnan(x[i])) {
      y[i] = static_cast<uint16_t>((bits >> 16) | 0x40);
    } else {
      y[i] = static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
    }
  }
}

void float_to_half(const float* x, int64_t n, uint16_t* y) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t f = std::bit_cast<uint32_t>(x[i]);
    const uint32_t sign = (f >> 16) & 0x8000u;
    const uint32_t magnitude = f & 0x7fffffffu;
    if (magnitude > 0x7f800000u) {  // NaN
      y[i] = static_cast<uint16_t>(sign | 0x7e00u);
      continue;
    }
    const int32_t exponent = int32_t(magnitude >> 23) - 127 + 15;
    uint32_t mantissa = magnitude & 0x7fffffu;
    if (exponent >= 31) {
      y[i] = static_cast<uint16_t>(sign | 0x7c00u);
      continue;
    }
    int shift = 13;
    uint32_t bits = (uint32_t(exponent) << 10);
    if (exponent <= 0) {  // subnormal half
      if (exponent < -10) {
        y[i] = static_cast<uint16_t>(sign);
        continue;
      }
      mantissa |= 0x800000u;
      shift = 14 - exponent;
      bits = 0;
    }
    // A carry out of the mantissa steps the exponent, up to infinity, as rounding should.
    uint32_t half = bits + (mantissa >> shift);
    const uint32_t rest = mantissa & ((1u << shift) - 1), tie = 1u << (shift - 1);
    if (rest > tie || (rest == tie && (half & 1u))) ++half;
    y[i] = static_cast<uint16_t>(sign | half);
  }
}

void half_to_float(const uint16_t* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t sign = uint32_t(x[i] & 0x8000u) << 16;
    const uint32_t exponent = (x[i] >> 10) & 0x1fu;
    const uint32_t mantissa = x[i] & 0x3ffu;
    float v;
    if (exponent == 0) {
      v = std::ldexp(float(mantissa), -24);
    } else if (exponent == 31) {
      v = mantissa ? std::numeric_limits<float>::quiet_NaN()
                   : std::numeric_limits<float>::infinity();
    } else {
      v = std::bit_cast<float>(((exponent + 112) << 23) | (mantissa << 13));
    }
    y[i] = sign ? -v : v;
  }
}

}  // namespace scalar
}  // namespace embedrt::kernels
