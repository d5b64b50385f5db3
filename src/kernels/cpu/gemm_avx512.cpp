// The packed fp32 GEMM's AVX-512 tiles. Each output element is the same single fma chain over k in
// ascending order as in the AVX2 and scalar kernels, then the bias, then the residual, so all three
// give the same bits; only the tile shape differs. Built with AVX-512 flags: everything here has
// internal linkage and calls intrinsics only (no std:: templates, which the linker could merge
// with another translation unit's copy built for an older CPU).
#include <immintrin.h>

#include "kernels/cpu/gemm.h"

namespace embedrt::kernels {
namespace {

// 12 rows x 32 columns (two panels) in 24 of the 32 zmm registers: per k, two panel loads and 12
// broadcasts feed 24 FMAs. 14 x 32, 8 x 48 and 6 x 64 measured the same within noise (Xeon with
// AMX, one thread, weights in L2: 180-210 GFLOP/s each, oneDNN's brgemm 195-225).
constexpr int kTileRows = 12;
constexpr int kTilePanels = 2;
static_assert(detail::kGemmTilingAvx512.tile_rows == kTileRows &&
              detail::kGemmTilingAvx512.tile_panels == kTilePanels);
constexpr int64_t kPrefetchBytes = 4096;
// The tile's rows come in chunks of kChunk k: chunk c holds row r's k [c * kChunk, c * kChunk +
// kChunk) at c * rows * kChunk + r * kChunk, and the last, shorter chunk of n k holds them at
// r * n. A k step's broadcasts sit 64 bytes apart in one chunk that stays in L1, as they did in the
// [k][rows] layout of the other tiles, but the copy is whole 64-byte vectors instead of a transpose
// (16-lane gathers, which Intel's Gather Data Sampling microcode makes several times slower).
// all-mpnet-base-v2 on 3,000 STS-B sentences: the copy 2.2-2.3% of samples with gathers, 1.3%
// chunked (Xeon with AMX, 3 interleaved runs each).
constexpr int64_t kChunk = 16;

__mmask16 lane_mask(int n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// NP panels (1 or 2) side by side; cols in 1..16 * NP.
template <int ROWS, int NP>
void tile(const detail::GemmTileArgs& t) {
  const float* const a = t.a;
  const float* const panel = t.panel;
  const int64_t k = t.k, ldy = t.ldy, stride = k * kGemmPanelColumns;
  float* const y = t.y;
  __mmask16 mask[NP];
#pragma GCC unroll 2
  for (int p = 0; p < NP; ++p) mask[p] = lane_mask(t.cols - 16 * p);
  __m512 acc[NP][ROWS];
#pragma GCC unroll 12
  for (int r = 0; r < ROWS; ++r) {
#pragma GCC unroll 2
    for (int p = 0; p < NP; ++p) acc[p][r] = _mm512_setzero_ps();
  }
  const int64_t ahead =
      t.prefetch_next_panel ? NP * stride * int64_t(sizeof(float)) : kPrefetchBytes;
  // One k step: row r's value at a[r * row_stride].
  const auto step = [&](const float* ai, int64_t row_stride, int64_t i) {
    __m512 b[NP];
#pragma GCC unroll 2
    for (int p = 0; p < NP; ++p) {
      const float* bp = panel + p * stride + i * kGemmPanelColumns;
      _mm_prefetch(reinterpret_cast<const char*>(bp) + ahead, _MM_HINT_T0);
      b[p] = _mm512_load_ps(bp);
    }
#pragma GCC unroll 12
    for (int r = 0; r < ROWS; ++r) {
      const __m512 av = _mm512_set1_ps(ai[r * row_stride]);
#pragma GCC unroll 2
      for (int p = 0; p < NP; ++p) acc[p][r] = _mm512_fmadd_ps(av, b[p], acc[p][r]);
    }
  };
  int64_t i = 0;
  for (const float* chunk = a; i + kChunk <= k; i += kChunk, chunk += ROWS * kChunk) {
    for (int64_t j = 0; j < kChunk; ++j) step(chunk + j, kChunk, i + j);
  }
  const int64_t rest = k - i;
  for (int64_t j = 0; j < rest; ++j) step(a + i * ROWS + j, rest, i + j);
#pragma GCC unroll 2
  for (int p = 0; p < NP; ++p) {
    // The bias is zero-padded to whole panels, so a full load is in bounds.
    const __m512 bv = _mm512_loadu_ps(t.bias + 16 * p);
#pragma GCC unroll 12
    for (int r = 0; r < ROWS; ++r) {
      __m512 v = _mm512_add_ps(acc[p][r], bv);
      if (t.residual) {
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask[p], t.residual + r * ldy + 16 * p));
      }
      _mm512_mask_storeu_ps(y + r * ldy + 16 * p, mask[p], v);
    }
  }
}

template <int NP, int R = kTileRows>
void tile_rows(const detail::GemmTileArgs& t) {
  if constexpr (R == 1) {
    return tile<1, NP>(t);
  } else {
    if (t.rows == R) return tile<R, NP>(t);
    return tile_rows<NP, R - 1>(t);
  }
}

void gemm_tile(const detail::GemmTileArgs& t) {
  if (t.cols > kGemmPanelColumns) return tile_rows<kTilePanels>(t);
  return tile_rows<1>(t);
}

// The chunked layout above, a vector (or, for the last chunk, a masked vector) per row and chunk.
void interleave_rows(const float* x, int64_t in, int rows, float* dst) {
  int64_t i = 0;
  for (; i + kChunk <= in; i += kChunk) {
    for (int r = 0; r < rows; ++r, dst += kChunk) {
      _mm512_storeu_ps(dst, _mm512_loadu_ps(x + r * in + i));
    }
  }
  const int64_t rest = in - i;
  if (rest == 0) return;
  const __mmask16 mask = lane_mask(int(rest));
  for (int r = 0; r < rows; ++r, dst += rest) {
    _mm512_mask_storeu_ps(dst, mask, _mm512_maskz_loadu_ps(mask, x + r * in + i));
  }
}

}  // namespace

void detail::gemm_tile_avx512(const GemmTileArgs& t) { gemm_tile(t); }

void detail::interleave_rows_avx512(const float* x, int64_t in, int rows, float* dst) {
  interleave_rows(x, in, rows, dst);
}

void avx512::gemm_packed(const PackedF32Weights& weights, const GemmArgs& args) {
  detail::gemm_packed(weights, args, &gemm_tile, &interleave_rows, detail::kGemmTilingAvx512);
}

}  // namespace embedrt::kernels
