#include <immintrin.h>

#include "kernels/cpu/gemm.h"

namespace embedrt::kernels {
namespace {

// A query's few rows make each call a stream of weights from memory; fetching 2 KiB of the panel
// ahead took one short fp32 text from about 4.1 to 3.5 ms here (AMD EPYC, 2 threads).
constexpr int64_t kPrefetchBytes = 2048;

// ROWS x 16 accumulators in 2 * ROWS registers (12 of 16 for six rows), two panel loads and one
// broadcast per row and k: the FMA units, not the loads, bound it. The accumulators are named
// variables rather than an array, which GCC would spill to the stack on every iteration.
template <int ROWS>
void tile(const float* a, int64_t lda, const float* panel, int64_t k, const float* bias, float* y,
          int64_t ldy, int cols) {
  const float* a0 = a;
  const float* a1 = a + (ROWS > 1 ? lda : 0);
  const float* a2 = a + (ROWS > 2 ? 2 * lda : 0);
  const float* a3 = a + (ROWS > 3 ? 3 * lda : 0);
  const float* a4 = a + (ROWS > 4 ? 4 * lda : 0);
  const float* a5 = a + (ROWS > 5 ? 5 * lda : 0);
  __m256 l0 = _mm256_setzero_ps(), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0, h3 = l0,
         l4 = l0, h4 = l0, l5 = l0, h5 = l0;
  for (int64_t i = 0; i < k; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(panel + i * kGemmPanelColumns) + kPrefetchBytes,
                 _MM_HINT_T0);
    const __m256 b0 = _mm256_load_ps(panel + i * kGemmPanelColumns);
    const __m256 b1 = _mm256_load_ps(panel + i * kGemmPanelColumns + 8);
    __m256 av = _mm256_broadcast_ss(a0 + i);
    l0 = _mm256_fmadd_ps(av, b0, l0);
    h0 = _mm256_fmadd_ps(av, b1, h0);
    if constexpr (ROWS > 1) {
      av = _mm256_broadcast_ss(a1 + i);
      l1 = _mm256_fmadd_ps(av, b0, l1);
      h1 = _mm256_fmadd_ps(av, b1, h1);
    }
    if constexpr (ROWS > 2) {
      av = _mm256_broadcast_ss(a2 + i);
      l2 = _mm256_fmadd_ps(av, b0, l2);
      h2 = _mm256_fmadd_ps(av, b1, h2);
    }
    if constexpr (ROWS > 3) {
      av = _mm256_broadcast_ss(a3 + i);
      l3 = _mm256_fmadd_ps(av, b0, l3);
      h3 = _mm256_fmadd_ps(av, b1, h3);
    }
    if constexpr (ROWS > 4) {
      av = _mm256_broadcast_ss(a4 + i);
      l4 = _mm256_fmadd_ps(av, b0, l4);
      h4 = _mm256_fmadd_ps(av, b1, h4);
    }
    if constexpr (ROWS > 5) {
      av = _mm256_broadcast_ss(a5 + i);
      l5 = _mm256_fmadd_ps(av, b0, l5);
      h5 = _mm256_fmadd_ps(av, b1, h5);
    }
  }
  const __m256 bias0 = _mm256_loadu_ps(bias), bias1 = _mm256_loadu_ps(bias + 8);
  const auto store = [&](int r, __m256 lo, __m256 hi) {
    lo = _mm256_add_ps(lo, bias0);
    hi = _mm256_add_ps(hi, bias1);
    float* row = y + r * ldy;
    if (cols == kGemmPanelColumns) {
      _mm256_storeu_ps(row, lo);
      _mm256_storeu_ps(row + 8, hi);
    } else {
      alignas(32) float tmp[kGemmPanelColumns];
      _mm256_store_ps(tmp, lo);
      _mm256_store_ps(tmp + 8, hi);
      for (int c = 0; c < cols; ++c) row[c] = tmp[c];
    }
  };
  store(0, l0, h0);
  if constexpr (ROWS > 1) store(1, l1, h1);
  if constexpr (ROWS > 2) store(2, l2, h2);
  if constexpr (ROWS > 3) store(3, l3, h3);
  if constexpr (ROWS > 4) store(4, l4, h4);
  if constexpr (ROWS > 5) store(5, l5, h5);
}

// ROWS x 16 s32 accumulators. Per four k: vpmaddubsw multiplies a row's four broadcast u8 by
// each column's four s8 and adds pairs into int16 (exact for |w| <= 63), vpmaddwd by ones adds
// the two pairs into int32. Four rows keep accumulators, panel, ones and temporaries within 16
// registers.
template <int ROWS>
void tile_u8s8(const uint8_t* a, int64_t lda, const int8_t* panel, int64_t padded_k, int32_t* y,
               int64_t ldy, int cols) {
  const uint8_t* rows[4] = {a, a + (ROWS > 1 ? lda : 0), a + (ROWS > 2 ? 2 * lda : 0),
                            a + (ROWS > 3 ? 3 * lda : 0)};
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i l0 = _mm256_setzero_si256(), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0,
          h3 = l0;
  const auto step = [&](const uint8_t* row, int64_t i, __m256i b0, __m256i b1, __m256i& lo,
                        __m256i& hi) {
    int32_t four;
    __builtin_memcpy(&four, row + i, 4);
    const __m256i av = _mm256_set1_epi32(four);
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_maddubs_epi16(av, b0), ones));
    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_maddubs_epi16(av, b1), ones));
  };
  for (int64_t i = 0; i < padded_k; i += 4) {
    const int8_t* b = panel + i * kGemmPanelColumns;
    _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchBytes), _MM_HINT_T0);
    const __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(b));
    const __m256i b1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + 32));
    step(rows[0], i, b0, b1, l0, h0);
    if constexpr (ROWS > 1) step(rows[1], i, b0, b1, l1, h1);
    if constexpr (ROWS > 2) step(rows[2], i, b0, b1, l2, h2);
    if constexpr (ROWS > 3) step(rows[3], i, b0, b1, l3, h3);
  }
  const auto store = [&](int r, __m256i lo, __m256i hi) {
    int32_t* row = y + r * ldy;
    if (cols == kGemmPanelColumns) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(row), lo);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + 8), hi);
    } else {
      alignas(32) int32_t tmp[kGemmPanelColumns];
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), lo);
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp + 8), hi);
      for (int c = 0; c < cols; ++c) row[c] = tmp[c];
    }
  };
  store(0, l0, h0);
  if constexpr (ROWS > 1) store(1, l1, h1);
  if constexpr (ROWS > 2) store(2, l2, h2);
  if constexpr (ROWS > 3) store(3, l3, h3);
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

void detail::gemm_tile_avx2(const float* a, int64_t lda, int rows, const float* panel, int64_t k,
                            const float* bias, float* y, int64_t ldy, int cols) {
  switch (rows) {
    case 6:
      return tile<6>(a, lda, panel, k, bias, y, ldy, cols);
    case 5:
      return tile<5>(a, lda, panel, k, bias, y, ldy, cols);
    case 4:
      return tile<4>(a, lda, panel, k, bias, y, ldy, cols);
    case 3:
      return tile<3>(a, lda, panel, k, bias, y, ldy, cols);
    case 2:
      return tile<2>(a, lda, panel, k, bias, y, ldy, cols);
    default:
      return tile<1>(a, lda, panel, k, bias, y, ldy, cols);
  }
}

void avx2::gemm_packed(const PackedF32Weights& weights, const GemmArgs& args) {
  detail::gemm_packed(weights, args, &detail::gemm_tile_avx2);
}

}  // namespace embedrt::kernels
