// GEMMs on weights packed once at load.
// - fp32, on AVX2 and AVX-512 CPUs: every output element is a single fused multiply-add chain over
//   k in ascending order, so a row's bits never depend on how many rows share the call, where the
//   row sits, the tiling or the thread count; the scalar, AVX2 and AVX-512 kernels give the same
//   bits. oneDNN's AVX2 gemm:jit packs the weights again on every call, which dominates a query of
//   a few tokens, and its AVX-512 brgemm gives a row bits that depend on the row count.
// - u8 x s8 -> s32, on AVX2 without AVX-512 or VNNI (where oneDNN repacks as well): sums are
//   exact, so the same holds trivially.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/rows_done.h"

namespace embedrt::kernels {

// Output columns per packed panel: two AVX2 registers, one AVX-512 register.
inline constexpr int64_t kGemmPanelColumns = 16;

namespace detail {
struct AlignedFree {
  void operator()(void* p) const noexcept;
};
// A zero-filled, cache-line-aligned array for packed weights.
template <typename T>
using AlignedArray = std::unique_ptr<T[], AlignedFree>;
void* zeroed_aligned_alloc(size_t bytes);
}  // namespace detail

// A [out, in] row-major weight (PyTorch's nn.Linear layout) as panels of kGemmPanelColumns
// output columns, each panel [in][kGemmPanelColumns] contiguous and the last one zero-padded, plus
// the bias padded the same way (zeros when there is none).
class PackedF32Weights {
 public:
  PackedF32Weights(const float* weight, const float* bias, int64_t out, int64_t in);
  // The same with row o of the weight from row(o) (valid until the next call), so weights stored
  // in another type are widened a row at a time.
  PackedF32Weights(const std::function<const float*(int64_t)>& row, const float* bias, int64_t out,
                   int64_t in);

  int64_t in_features() const noexcept { return in_; }
  int64_t out_features() const noexcept { return out_; }
  int64_t panels() const noexcept { return panels_; }
  const float* panel(int64_t p) const noexcept { return data_.get() + p * in_ * kGemmPanelColumns; }
  const float* bias() const noexcept { return data_.get() + panels_ * in_ * kGemmPanelColumns; }
  size_t bytes() const noexcept;

 private:
  int64_t out_ = 0, in_ = 0, panels_ = 0;
  detail::AlignedArray<float> data_;
};

struct GemmArgs {
  const float* x = nullptr;  // [rows, in]
  int64_t rows = 0;
  float* y = nullptr;               // [rows, out]
  const float* residual = nullptr;  // [rows, out], added after the activation when not null
  Activation activation = Activation::kNone;
  RowsDone rows_done;
};

// y = act(x W^T + b) (+ residual), threaded with OpenMP over row blocks and column groups. Uses the
// widest kernel active_isa() allows (AVX-512, AVX2, scalar); all three give the same bits.
void gemm_packed(const PackedF32Weights& weights, const GemmArgs& args);

namespace scalar {
void gemm_packed(const PackedF32Weights& weights, const GemmArgs& args);
}
namespace avx2 {
void gemm_packed(const PackedF32Weights& weights, const GemmArgs& args);
}
namespace avx512 {
void gemm_packed(const PackedF32Weights& weights, const GemmArgs& args);
}

// Quantized weights [out, in] (s8, row-major) as panels of kGemmPanelColumns output columns, each
// panel [in / 4][kGemmPanelColumns][4] (four consecutive k of a column together, as vpmaddubsw
// pairs them), in zero-padded to a multiple of 4 and the last panel zero-padded.
class PackedS8Weights {
 public:
  PackedS8Weights(const int8_t* weight, int64_t out, int64_t in);

  int64_t in_features() const noexcept { return in_; }
  int64_t padded_in() const noexcept { return padded_in_; }
  int64_t out_features() const noexcept { return out_; }
  int64_t panels() const noexcept { return panels_; }
  const int8_t* panel(int64_t p) const noexcept {
    return data_.get() + p * padded_in_ * kGemmPanelColumns;
  }
  size_t bytes() const noexcept { return size_t(panels_ * padded_in_ * kGemmPanelColumns); }

 private:
  int64_t out_ = 0, in_ = 0, padded_in_ = 0, panels_ = 0;
  detail::AlignedArray<int8_t> data_;
};

// AVX2 without VNNI multiplies u8 by s8 with vpmaddubsw, which adds two products in a saturating
// int16: weights must lie in [-kGemmS8WeightMax, kGemmS8WeightMax] for 255 * w * 2 to fit.
inline constexpr int32_t kGemmS8WeightMax = 63;

struct GemmU8S8Args {
  const uint8_t* x = nullptr;  // [rows, x_stride], x_stride >= padded_in(), the padding zero
  int64_t rows = 0;
  int64_t x_stride = 0;
  int32_t* y = nullptr;  // [rows, out]
  // Called once per finished block of rows [r0, r1) x columns [c0, c1), on the thread that
  // computed it, to turn the sums into fp32 while they are in cache and in parallel.
  void (*finish)(const void* context, int64_t r0, int64_t r1, int64_t c0, int64_t c1) = nullptr;
  const void* context = nullptr;
};

// y = x W^T in exact s32, threaded like gemm_packed.
void gemm_u8s8_packed(const PackedS8Weights& weights, const GemmU8S8Args& args);

namespace scalar {
void gemm_u8s8_packed(const PackedS8Weights& weights, const GemmU8S8Args& args);
}
namespace avx2 {
void gemm_u8s8_packed(const PackedS8Weights& weights, const GemmU8S8Args& args);
}

namespace detail {
// The blocks [0, blocks) of one threaded call, dealt out as one contiguous run per thread. A
// thread takes its own run from the front; once it is empty, it takes blocks from the back of the
// others' runs. The runs keep each thread streaming the same weights in order every call (dealing
// the blocks out alternately cost a query 30-45% here), and taking from the others keeps a thread
// that started late, or runs on a slower core, from holding the rest at the closing barrier.
// Every block is handed out exactly once, whatever the team size.
class BlockRuns {
 public:
  // Lives on the calling thread's stack for one call, shared by the team it starts.
  BlockRuns(int64_t blocks, int threads);
  // The next block for `thread`, or -1 once every run is empty.
  int64_t next(int thread);

 private:
  struct alignas(64) Run {
    std::atomic<uint64_t> range;  // the run's first block in the high half, its end in the low
  };
  static uint64_t pack(int64_t first, int64_t end) { return uint64_t(first) << 32 | uint64_t(end); }
  static int64_t take(Run& run, bool front);

  int threads_;
  Run* runs_;
};

// How one threaded call is cut up: register tiles of tile_rows rows x tile_panels panels (the
// panels are contiguous, so a tile reads panel p and the ones after it), grouped in blocks of
// block_rows rows x group_panels panels, a block being what a thread takes at a time. With
// prefetch_to_l2, the row tiles of a block bring the next tile's panels and the next row block's
// rows into L2 a line per k step (GemmTileArgs::next_panels, next_rows); without, the last row
// tile over a panel fetches the next one at the rate it reads its own (prefetch_next_panel).
struct GemmTiling {
  int64_t tile_rows, tile_panels, block_rows, group_panels;
  bool prefetch_to_l2 = false;
};

// Lines [at, at + 64 * lines) for a tile to prefetch into L2 as it goes.
struct GemmPrefetch {
  const char* at = nullptr;
  int64_t lines = 0;
};

// One register tile:
//   y[r, c] = sum_i a[i * rows + r] * panel[i * kGemmPanelColumns + c] + bias[c] (+ residual[r, c])
// for r < rows and c < cols, the sum one fma chain in ascending i; columns past the first panel
// run on into the next ones (panel + k * kGemmPanelColumns, ...).
struct GemmTileArgs {
  const float* a;      // the tile's rows interleaved, [k][rows]: a step's broadcasts share a line
  int rows;            // 1..tile_rows
  const float* panel;  // the tile's first panel
  int64_t k;
  const float* bias;         // at the tile's first column, zero-padded to whole panels
  const float* residual;     // null, or rows of y's stride added after the bias
  float* y;                  // at the tile's first row and column
  int64_t ldy;               // y's row stride
  int cols;                  // 1..tile_panels * kGemmPanelColumns
  bool prefetch_next_panel;  // fetch the next tile's panels (contiguous) instead of reading ahead
  GemmPrefetch next_panels;  // with GemmTiling::prefetch_to_l2: at most 2 * k lines
  GemmPrefetch next_rows;    // with GemmTiling::prefetch_to_l2: at most k lines
};
using GemmTile = void (*)(const GemmTileArgs& t);
inline constexpr int kGemmTileRows = 6;
// The AVX2 and scalar kernels' tiling: 6 x 16 tiles, blocks of 48 rows (reused from L2 across the
// group's panels) x 4 panels, small enough that a query of a few rows still splits its columns
// across threads, which is what bounds it: every weight is read once per call.
inline constexpr GemmTiling kGemmTilingAvx2{kGemmTileRows, 1, 48, 4};
// The AVX-512 kernel's: 12 x 32 tiles (two panels), blocks of 48 rows x 8 panels. Measured on
// all-mpnet-base-v2's shapes (Xeon with AMX, 2 threads, 12 layers' weights cycling): level with
// oneDNN's brgemm on batches; 24-row or 96-row blocks, 4 or 16 panels, and running k in chunks of
// 96-384 (a chunk of the panels held in L1 across the block's row tiles) measured no better.
inline constexpr GemmTiling kGemmTilingAvx512{12, 2, 48, 8, true};
// Copies rows [0, rows) (1..tile_rows) of x, row stride `in`, into dst[i * rows + r]: the
// layout a GemmTile reads. Writes exactly rows * in floats.
using GemmInterleaveRows = void (*)(const float* x, int64_t in, int rows, float* dst);
void gemm_packed(const PackedF32Weights& weights, const GemmArgs& args, GemmTile tile,
                 GemmInterleaveRows interleave, const GemmTiling& tiling);
void interleave_rows_scalar(const float* x, int64_t in, int rows, float* dst);
void interleave_rows_avx2(const float* x, int64_t in, int rows, float* dst);
void interleave_rows_avx512(const float* x, int64_t in, int rows, float* dst);
void gemm_tile_scalar(const GemmTileArgs& t);
void gemm_tile_avx2(const GemmTileArgs& t);
void gemm_tile_avx512(const GemmTileArgs& t);

using GemmU8S8Tile = void (*)(const uint8_t* a, int64_t lda, int rows, const int8_t* panel,
                              int64_t padded_k, int32_t* y, int64_t ldy, int cols);
inline constexpr int kGemmU8S8TileRows = 4;
void gemm_u8s8_packed(const PackedS8Weights& weights, const GemmU8S8Args& args, GemmU8S8Tile tile);
void gemm_u8s8_tile_avx2(const uint8_t* a, int64_t lda, int rows, const int8_t* panel,
                         int64_t padded_k, int32_t* y, int64_t ldy, int cols);
}  // namespace detail

}  // namespace embedrt::kernels
