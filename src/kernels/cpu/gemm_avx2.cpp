#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/transpose_avx.h"

namespace embedrt::kernels {
namespace {

// A query's few rows make each call a stream of weights from memory, so the tiles fetch the panel
// ahead. 2 KiB ahead took one short fp32 text from about 4.1 to 3.5 ms here (AMD EPYC, 2 threads);
// 4 KiB took another 5-6% off (interleaved A/B, 3 x 6-8 rounds), no change for batches. The int8
// tile spends more than twice as long per panel byte (16 multiplies per 64 bytes at one a cycle),
// so 2 KiB already covers the same latency (4 KiB measured no better).
constexpr int64_t kPrefetchBytes = 4096;
constexpr int64_t kPrefetchBytesU8S8 = 2048;

// Columns [0, cols) of one row into two registers, the rest zero.
void load_row(const float* row, __m256& lo, __m256& hi, int cols) {
  if (cols == kGemmPanelColumns) {
    lo = _mm256_loadu_ps(row);
    hi = _mm256_loadu_ps(row + 8);
  } else {
    alignas(32) float tmp[kGemmPanelColumns] = {};
    std::copy(row, row + cols, tmp);
    lo = _mm256_load_ps(tmp);
    hi = _mm256_load_ps(tmp + 8);
  }
}

// Columns [0, cols) of one output row held in two registers.
template <typename T, typename Vector>
void store_row(T* row, Vector lo, Vector hi, int cols) {
  if (cols == kGemmPanelColumns) {
    std::memcpy(row, &lo, sizeof lo);
    std::memcpy(row + 8, &hi, sizeof hi);
  } else {
    T tmp[kGemmPanelColumns];
    std::memcpy(tmp, &lo, sizeof lo);
    std::memcpy(tmp + 8, &hi, sizeof hi);
    std::copy(tmp, tmp + cols, row);
  }
}

// ROWS x 16 accumulators in 2 * ROWS registers (12 of 16 for six rows), two panel loads and one
// broadcast per row and k: the FMA units, not the loads, bound it. Every loop over rows is fully
// unrolled, which is what lets GCC keep the accumulator arrays in registers; two k steps per
// iteration save a few percent of loop overhead.
template <int ROWS>
void tile(const detail::GemmTileArgs& t) {
  const float* const a = t.a;
  const float* const panel = t.panel;
  const int64_t k = t.k, ldy = t.ldy;
  float* const y = t.y;
  const int cols = t.cols;
  __m256 lo[ROWS], hi[ROWS];
#pragma GCC unroll 6
  for (int r = 0; r < ROWS; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  const int64_t ahead =
      t.prefetch_next_panel ? k * kGemmPanelColumns * int64_t(sizeof(float)) : kPrefetchBytes;
  const auto step = [&](int64_t i) {
    const float* b = panel + i * kGemmPanelColumns;
    _mm_prefetch(reinterpret_cast<const char*>(b) + ahead, _MM_HINT_T0);
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < ROWS; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + i * ROWS + r);
      lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
      hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
    }
  };
  int64_t i = 0;
  for (; i + 2 <= k; i += 2) {
    step(i);
    step(i + 1);
  }
  if (i < k) step(i);
  const __m256 bias0 = _mm256_loadu_ps(t.bias), bias1 = _mm256_loadu_ps(t.bias + 8);
#pragma GCC unroll 6
  for (int r = 0; r < ROWS; ++r) {
    lo[r] = _mm256_add_ps(lo[r], bias0);
    hi[r] = _mm256_add_ps(hi[r], bias1);
  }
  if (t.residual) {
#pragma GCC unroll 6
    for (int r = 0; r < ROWS; ++r) {
      __m256 res0, res1;
      load_row(t.residual + r * ldy, res0, res1, cols);
      lo[r] = _mm256_add_ps(lo[r], res0);
      hi[r] = _mm256_add_ps(hi[r], res1);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < ROWS; ++r) store_row(y + r * ldy, lo[r], hi[r], cols);
}

// ROWS x 16 s32 accumulators. Per four k: vpmaddubsw multiplies a row's four broadcast u8 by
// each column's four s8 and adds pairs into int16 (exact for |w| <= 63), vpmaddwd by ones adds
// the two pairs into int32. Four rows keep accumulators, panel, ones and temporaries within 16
// registers.
template <int ROWS>
void tile_u8s8(const uint8_t* a, int64_t lda, const int8_t* panel, int64_t padded_k, int32_t* y,
               int64_t ldy, int cols) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i lo[ROWS], hi[ROWS];
#pragma GCC unroll 4
  for (int r = 0; r < ROWS; ++r) lo[r] = hi[r] = _mm256_setzero_si256();
  for (int64_t i = 0; i < padded_k; i += 4) {
    const int8_t* b = panel + i * kGemmPanelColumns;
    _mm_prefetch(reinterpret_cast<const char*>(b) + kPrefetchBytesU8S8, _MM_HINT_T0);
    const __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(b));
    const __m256i b1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + 32));
#pragma GCC unroll 4
    for (int r = 0; r < ROWS; ++r) {
      int32_t four;
      std::memcpy(&four, a + r * lda + i, 4);
      const __m256i av = _mm256_set1_epi32(four);
      lo[r] = _mm256_add_epi32(lo[r], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b0), ones));
      hi[r] = _mm256_add_epi32(hi[r], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b1), ones));
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < ROWS; ++r) store_row(y + r * ldy, lo[r], hi[r], cols);
}

}  // namespace

void detail::gemm_u8s8_tile_avx2(const uint8_t* a, int64_t lda, int rows, const int8_t* panel,
                                 int64_t padded_k, int32_t* y, int64_t ldy, int cols) {
  switch (rows) {
    case 4:
      return tile_u8s8<4>(a, lda, panel, padded_k, y, ldy, cols);
    case 3:
      return tile_u8s8<3>(a, lda, panel, padded_k, y, ldy, cols);
    case 2:
      return tile_u8s8<2>(a, lda, panel, padded_k, y, ldy, cols);
    default:
      return tile_u8s8<1>(a, lda, panel, padded_k, y, ldy, cols);
  }
}

void avx2::gemm_u8s8_packed(const PackedS8Weights& weights, const GemmU8S8Args& args) {
  detail::gemm_u8s8_packed(weights, args, &detail::gemm_u8s8_tile_avx2);
}

void detail::gemm_tile_avx2(const GemmTileArgs& t) {
  switch (t.rows) {
    case 6:
      return tile<6>(t);
    case 5:
      return tile<5>(t);
    case 4:
      return tile<4>(t);
    case 3:
      return tile<3>(t);
    case 2:
      return tile<2>(t);
    default:
      return tile<1>(t);
  }
}

// Six rows, eight k at a time: an 8 x 8 transpose (two rows zero) leaves k's six values in the
// low lanes of one register, stored at dst + 6k; each 8-float store runs two floats into the next
// k's slot, which the next store overwrites, so the last block of k goes through the scalar loop.
// Measured (perf samples): a 1024 x 384 x 384 product spent 11% of its time in the scalar copy and
// 8% in this one, the rest being misses on x; 128-token batches 4.7% and 3.8%.
void detail::interleave_rows_avx2(const float* x, int64_t in, int rows, float* dst) {
  int64_t i = 0;
  if (rows == kGemmTileRows) {
    for (; i + 8 < in; i += 8) {
      __m256 r[6], k[8];
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) r[j] = _mm256_loadu_ps(x + j * in + i);
      transpose_6x8(r, k);
      float* d = dst + i * kGemmTileRows;
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t) _mm256_storeu_ps(d + t * kGemmTileRows, k[t]);
    }
  }
  for (float* d = dst + i * rows; i < in; ++i, d += rows) {
    for (int r = 0; r < rows; ++r) d[r] = x[r * in + i];
  }
}

void avx2::gemm_packed(const PackedF32Weights& weights, const GemmArgs& args) {
  detail::gemm_packed(weights, args, &detail::gemm_tile_avx2, &detail::interleave_rows_avx2,
                      detail::kGemmTilingAvx2);
}

}  // namespace embedrt::kernels
