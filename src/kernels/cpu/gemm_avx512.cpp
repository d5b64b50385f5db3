// The packed fp32 GEMM's AVX-512 tiles. Each output element is the same single fma chain over k in
// ascending order as in the AVX2 and scalar kernels, then the bias, then the residual, so all three
// give the same bits; only the tile shape differs. Built with AVX-512 flags: everything here has
// internal linkage and calls intrinsics only (no std:: templates, which the linker could merge
// with another translation unit's copy built for an older CPU).
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/transpose_avx.h"

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

__mmask16 lane_mask(int n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// Steps [i0, i1) of a tile's k loop, with S of its (up to three) L2 prefetch streams active: line
// i of stream s is pf[s] + 64 * i. The loop runs in segments of fixed S (GemmTileArgs' streams
// sorted by length) so that it tests nothing per step: with a test per stream, the loop held more
// pointers and counters than there are general registers, and gcc kept two in vector registers,
// moving them back every step with vmovq, which runs on port 0, one of the two FMA ports. One
// thread, weights in L2: 189-209 -> 212-216 GFLOP/s (95% of the FMA rate); all-mpnet-base-v2 in
// the model: +0.9% mean over 10 interleaved pairs (Xeon with AMX).
template <int ROWS, int NP, int S>
[[gnu::always_inline]] inline void k_steps(__m512 (&acc)[NP][ROWS], const float* a,
                                           const float* panel, int64_t stride,
                                           const char* const (&pf)[3], int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; ++i) {
#pragma GCC unroll 3
    for (int s = 0; s < S; ++s) _mm_prefetch(pf[s] + 64 * i, _MM_HINT_T1);
    __m512 b[NP];
#pragma GCC unroll 2
    for (int p = 0; p < NP; ++p) {
      const float* bp = panel + p * stride + i * kGemmPanelColumns;
      _mm_prefetch(reinterpret_cast<const char*>(bp) + kPrefetchBytes, _MM_HINT_T0);
      b[p] = _mm512_load_ps(bp);
    }
    const float* ai = a + i * ROWS;
#pragma GCC unroll 12
    for (int r = 0; r < ROWS; ++r) {
      const __m512 av = _mm512_set1_ps(ai[r]);
#pragma GCC unroll 2
      for (int p = 0; p < NP; ++p) acc[p][r] = _mm512_fmadd_ps(av, b[p], acc[p][r]);
    }
  }
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
  // The L2 prefetch streams, a line per k step each: the next tile's panels (up to 2k lines, so
  // two streams k lines apart) and the next row block's rows (GemmTiling::prefetch_to_l2). Asked
  // to fetch the next panels instead (prefetch_next_panel), the tile streams them the same way.
  detail::GemmPrefetch next_panels = t.next_panels;
  if (t.prefetch_next_panel && next_panels.lines == 0) {
    next_panels = {reinterpret_cast<const char*>(panel + NP * stride), NP * k};
  }
  // The second stream's start in integer arithmetic: with no panels to fetch, next_panels.at is
  // null, and no pointer may be offset from null (the stream then has no lines and is not read).
  const char* at[3] = {next_panels.at,
                       reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(next_panels.at) +
                                                     uintptr_t(64 * k)),
                       t.next_rows.at};
  const int64_t rest = next_panels.lines - k;
  int64_t lines[3] = {next_panels.lines < k ? next_panels.lines : k, rest > 0 ? rest : 0,
                      t.next_rows.lines < k ? t.next_rows.lines : k};
  // Longest first: stream s is active for the steps below lines[s].
  const auto order = [&](int i, int j) {
    if (lines[i] < lines[j]) {
      const int64_t n = lines[i];
      lines[i] = lines[j];
      lines[j] = n;
      const char* p = at[i];
      at[i] = at[j];
      at[j] = p;
    }
  };
  order(0, 1);
  order(1, 2);
  order(0, 1);
  // The lines the epilogue writes (and the residual it reads), fetched now so they are in cache
  // by then, with write intent: y is a layer's output, larger than L2 and cold, and its 24
  // read-for-ownership misses at the end of every tile held the next one up.
  // all-mpnet-base-v2, 600 STS-B sentences, fp32: +1.9% mean over 10 interleaved pairs (9
  // faster), the QKV projection and attention output most (Xeon with AMX, 2 threads).
#pragma GCC unroll 12
  for (int r = 0; r < ROWS; ++r) {
#pragma GCC unroll 2
    for (int p = 0; p < NP; ++p) {
      _mm_prefetch(reinterpret_cast<const char*>(y + r * ldy + 16 * p), _MM_HINT_ET0);
      if (t.residual) {
        _mm_prefetch(reinterpret_cast<const char*>(t.residual + r * ldy + 16 * p), _MM_HINT_T0);
      }
    }
  }
  k_steps<ROWS, NP, 3>(acc, a, panel, stride, at, 0, lines[2]);
  k_steps<ROWS, NP, 2>(acc, a, panel, stride, at, lines[2], lines[1]);
  k_steps<ROWS, NP, 1>(acc, a, panel, stride, at, lines[1], lines[0]);
  k_steps<ROWS, NP, 0>(acc, a, panel, stride, at, lines[0], k);
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

// dst[i * rows + r] = x[r * in + i]: 8 k of up to 6 rows at a time transposed in registers
// (transpose_6x8, as in the AVX2 copy) and stored as 8 runs of those rows, masked to them.
// No gathers: Intel's Gather Data Sampling microcode makes them several times slower on Skylake to
// Ice Lake cores. On this Xeon with AMX the copy is 2.0% of samples (all-mpnet-base-v2, 3,000 STS-B
// sentences) against 2.2% with 16-lane gathers: it waits on reading x from L3 either way. Copying
// 16 k of each row whole into a chunked layout made the copy 1.3% but the tiles 2-4% slower (a k
// step's 12 broadcasts from 12 lines instead of one).
void interleave_rows(const float* x, int64_t in, int rows, float* dst) {
  int64_t i = 0;
  const __m256 zero = _mm256_setzero_ps();
  for (; i + 8 <= in; i += 8) {
    for (int g = 0; g < rows; g += 6) {
      const int n = rows - g < 6 ? rows - g : 6;
      __m256 r[6], k[8];
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) r[j] = j < n ? _mm256_loadu_ps(x + (g + j) * in + i) : zero;
      transpose_6x8(r, k);
      const __mmask8 mask = __mmask8((1u << n) - 1);
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t) _mm256_mask_storeu_ps(dst + (i + t) * rows + g, mask, k[t]);
    }
  }
  for (; i < in; ++i) {
    for (int r = 0; r < rows; ++r) dst[i * rows + r] = x[r * in + i];
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
