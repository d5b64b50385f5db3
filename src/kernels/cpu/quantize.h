// Conversions between fp32 and the narrow types the int8 and bf16 matmuls take.
#pragma once

#include <cstdint>

namespace embedrt::kernels {

// Asymmetric per-row quantization to [0, qmax] (qmax <= 255): for each row r,
// q[r, c] = clamp(round(x[r, c] / scales[r]) + zero_points[r], 0, qmax), where the range covers
// the row's minimum and maximum and always 0 (so 0 is exact). Rows are independent, which keeps a
// row's result independent of the batch. Rounds half to even.
void quantize_rows_u8(const float* x, int64_t rows, int64_t cols, int32_t qmax, uint8_t* q,
                      float* scales, int32_t* zero_points);

// Symmetric per-output-channel quantization of a [out, in] row-major weight to [-qmax, qmax]:
// q[o, i] = round(w[o, i] / scales[o]), scales[o] = max_i |w[o, i]| / qmax (1 for an all-zero row).
void quantize_weights_s8(const float* w, int64_t out, int64_t in, int32_t qmax, int8_t* q,
                         float* scales);

// Turns s32 products of quantize_rows_u8 rows and quantize_weights_s8 columns back into fp32:
// y[r, c] = float(acc[r, c] - zero_points[r] * col_sums[c]) * (row_scales[r] * col_scales[c])
//           + bias[c]
// where col_sums[c] is the sum of column c's quantized weights. `bias` may be null; `y` may alias
// `acc` (same element size), so the s32 result can be turned into fp32 in place.
void dequantize_rows(const int32_t* acc, int64_t rows, int64_t cols, const float* row_scales,
                     const int32_t* zero_points, const float* col_scales, const int32_t* col_sums,
                     const float* bias, float* y);

// fp32 to bfloat16 bits, rounding to nearest even (NaN stays NaN).
void float_to_bf16(const float* x, int64_t n, uint16_t* y);

// bfloat16 bits to fp32 (exact).
void bf16_to_float(const uint16_t* x, int64_t n, float* y);

// fp32 to IEEE half bits, rounding to nearest even (overflow gives infinity), and back (exact).
void float_to_half(const float* x, int64_t n, uint16_t* y);
void half_to_float(const uint16_t* x, int64_t n, float* y);

namespace scalar {
void quantize_row_u8(const float* x, int64_t cols, int32_t qmax, uint8_t* q, float* scale,
                     int32_t* zero_point);
void dequantize_row(const int32_t* acc, int64_t cols, float row_scale, int32_t zero_point,
                    const float* col_scales, const int32_t* col_sums, const float* bias, float* y);
void float_to_bf16(const float* x, int64_t n, uint16_t* y);
void float_to_half(const float* x, int64_t n, uint16_t* y);
void half_to_float(const uint16_t* x, int64_t n, float* y);
}  // namespace scalar
namespace avx2 {
void quantize_row_u8(const float* x, int64_t cols, int32_t qmax, uint8_t* q, float* scale,
                     int32_t* zero_point);
void dequantize_row(const int32_t* acc, int64_t cols, float row_scale, int32_t zero_point,
                    const float* col_scales, const int32_t* col_sums, const float* bias, float* y);
void float_to_bf16(const float* x, int64_t n, uint16_t* y);
void float_to_half(const float* x, int64_t n, uint16_t* y);
void half_to_float(const uint16_t* x, int64_t n, float* y);
}  // namespace avx2

}  // namespace embedrt::kernels
