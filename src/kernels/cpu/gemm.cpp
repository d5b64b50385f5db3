#include "kernels/cpu/gemm.h"

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "kernels/cpu/cpu_features.h"

namespace embedrt::kernels {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kHugePage = size_t{2} << 20;

void scalar_u8s8_tile(const uint8_t* a, int64_t lda, int rows, const int8_t* panel,
                      int64_t padded_k, int32_t* y, int64_t ldy, int cols) {
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      int32_t acc = 0;
      for (int64_t i = 0; i < padded_k; ++i) {
        acc += int32_t(a[r * lda + i]) * panel[(i / 4 * kGemmPanelColumns + c) * 4 + i % 4];
      }
      y[r * ldy + c] = acc;
    }
  }
}

// Every register tile of a [rows, out] product: blocks of at most tiling.block_rows rows x
// tiling.group_panels panels, in BlockRuns, row-block major so that a thread's consecutive blocks
// share their rows. Within a block, `tile(r, n, p, c0, cols, prefetch_next_panel)` computes rows
// [r, r + n) (n <= tiling.tile_rows) of panels [p, p + tiling.tile_panels), whose columns start at
// c0. The first row tile over a panel streams it from memory and the others read it from cache, so
// the last of several is asked to fetch the next panel meanwhile, which keeps the memory busy
// through the block: a query's 10 rows make two fp32 tiles, and its p50 went from 3.48 to 3.13 ms
// (AMD EPYC, 2 threads, 16 interleaved rounds; batches unchanged). Then `block_done(r0, r1, c0,
// c1)` finishes the block on the same thread, while it is in cache. `start_rows(r0, r1)` runs on a
// thread before it starts a block on other rows than its previous one, to prepare them for its
// tiles.
//
// With more than one row block, their count is a multiple of the thread count and the register
// tiles are spread evenly over them, so the threads get the same number of rows: fixed 48-row
// blocks left one thread up to 10% idle on a batch of short texts.
template <typename StartRows, typename Tile, typename BlockDone>
void for_each_register_tile(const detail::GemmTiling& tiling, int64_t rows, int64_t panels,
                            int64_t out, const StartRows& start_rows, const Tile& tile,
                            const BlockDone& block_done, RowsDone rows_done = {}) {
  const int threads = omp_get_max_threads();
  const int64_t tile_rows = tiling.tile_rows, tile_panels = tiling.tile_panels;
  const int64_t group_panels = tiling.group_panels;
  const int64_t row_tiles = (rows + tile_rows - 1) / tile_rows;
  int64_t row_blocks = (rows + tiling.block_rows - 1) / tiling.block_rows;
  if (row_blocks > 1) row_blocks = (row_blocks + threads - 1) / threads * threads;
  row_blocks = std::min(row_blocks, row_tiles);
  const int64_t groups = (panels + group_panels - 1) / group_panels;
  const int64_t blocks = row_blocks * groups;
  detail::BlockRuns runs(blocks, threads);
  // With rows_done: how many of each row block's column groups are finished.
  thread_local std::unique_ptr<std::atomic<int64_t>[]> finished;
  thread_local int64_t finished_size = 0;
  if (rows_done.fn) {
    if (finished_size < row_blocks) {
      finished = std::make_unique<std::atomic<int64_t>[]>(size_t(row_blocks));
      finished_size = row_blocks;
    }
    for (int64_t rb = 0; rb < row_blocks; ++rb) finished[rb].store(0, std::memory_order_relaxed);
  }
  std::atomic<int64_t>* const groups_finished = finished.get();
#pragma omp parallel if (blocks > 1)
  {
    const int thread = omp_get_thread_num();
    int64_t started = -1;  // the row block this thread last prepared
    for (int64_t b = runs.next(thread); b >= 0; b = runs.next(thread)) {
      const int64_t rb = b / groups;
      const int64_t r0 = std::min(rows, rb * row_tiles / row_blocks * tile_rows);
      const int64_t r1 = std::min(rows, (rb + 1) * row_tiles / row_blocks * tile_rows);
      if (rb != started) {
        start_rows(r0, r1);
        started = rb;
      }
      const int64_t p0 = b % groups * group_panels, p1 = std::min(panels, p0 + group_panels);
      for (int64_t p = p0; p < p1; p += tile_panels) {
        const int64_t c0 = p * kGemmPanelColumns;
        const int cols = int(std::min(tile_panels * kGemmPanelColumns, out - c0));
        for (int64_t r = r0; r < r1; r += tile_rows) {
          const bool prefetch_next_panel =
              r != r0 && r + tile_rows >= r1 && p + tile_panels < panels;
          tile(r, int(std::min(tile_rows, r1 - r)), p, c0, cols, prefetch_next_panel);
        }
      }
      block_done(r0, r1, p0 * kGemmPanelColumns, std::min(out, p1 * kGemmPanelColumns));
      // acq_rel: the thread that finishes a row block sees the other groups' writes.
      if (rows_done.fn &&
          groups_finished[rb].fetch_add(1, std::memory_order_acq_rel) + 1 == groups) {
        rows_done.fn(rows_done.context, r0, r1);
      }
    }
  }
}

// With GemmTiling::prefetch_to_l2, a block's row tiles after the first share out the lines of the
// panels the next tile reads (row tile j of row_tiles, over panels p, p + 1, ...): every row tile
// reads its panels from L2 but the first would stream them from L3 or memory, and fetching them at
// full rate during the last row tile (the AVX2 kernel's way) left it waiting too.
// all-mpnet-base-v2, 3,000 STS-B sentences, fp32: +2.2% mean over 7 interleaved pairs (5 faster,
// the QKV projection in every pair), on top of next rows below (Xeon with AMX, 2 threads).
detail::GemmPrefetch share_of_next_panels(const PackedF32Weights& w,
                                          const detail::GemmTiling& tiling, int64_t p, int64_t j,
                                          int64_t row_tiles) {
  const int64_t next = p + tiling.tile_panels;
  if (row_tiles < 2 || j < 1 || next >= w.panels()) return {};
  const int64_t panels = std::min(tiling.tile_panels, w.panels() - next);
  const int64_t lines = panels * w.in_features() * kGemmPanelColumns * int64_t(sizeof(float)) / 64;
  const int64_t first = lines * (j - 1) / (row_tiles - 1), last = lines * j / (row_tiles - 1);
  return {reinterpret_cast<const char*>(w.panel(next)) + first * 64,
          std::min(last - first, 2 * w.in_features())};
}

// The lines of the next row block's rows (as many rows as [r0, r1), the block assumed to follow),
// shared out over the `tiles` tiles of this block (this is tile `index`), so the copy that starts
// the next block reads them from L2: it stalled on L3 otherwise. all-mpnet-base-v2, 3,000 STS-B
// sentences, fp32: +0.6% to +2.6% in 4 interleaved pairs, the attention output 3-5% faster (Xeon
// with AMX, 2 threads). The AVX2 kernel, at half the FMA rate, measured no change.
detail::GemmPrefetch share_of_next_rows(const float* x, int64_t in, int64_t rows, int64_t r0,
                                        int64_t r1, int64_t index, int64_t tiles) {
  const int64_t next_rows = std::min(r1 - r0, rows - r1);
  if (next_rows <= 0) return {};
  const int64_t lines = next_rows * in * int64_t(sizeof(float)) / 64;
  const int64_t first = lines * index / tiles, last = lines * (index + 1) / tiles;
  return {reinterpret_cast<const char*>(x + r1 * in) + first * 64, std::min(last - first, in)};
}

}  // namespace

detail::BlockRuns::BlockRuns(int64_t blocks, int threads) : threads_(threads) {
  assert(blocks >= 0 && blocks < (int64_t{1} << 31) && threads >= 1);  // both halves of a Run
  // The calling thread's runs, reused: no allocation per call.
  thread_local std::vector<Run> storage;
  if (storage.size() < size_t(threads)) storage = std::vector<Run>(threads);
  runs_ = storage.data();
  for (int t = 0; t < threads; ++t) {
    runs_[t].range.store(pack(blocks * t / threads, blocks * (t + 1) / threads),
                         std::memory_order_relaxed);
  }
}

int64_t detail::BlockRuns::next(int thread) {
  if (const int64_t b = take(runs_[thread % threads_], /*front=*/true); b >= 0) return b;
  for (int i = 1; i < threads_; ++i) {
    if (const int64_t b = take(runs_[(thread + i) % threads_], /*front=*/false); b >= 0) return b;
  }
  return -1;
}

int64_t detail::BlockRuns::take(Run& run, bool front) {
  uint64_t range = run.range.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t first = int64_t(range >> 32), end = int64_t(range & 0xffffffffu);
    if (first >= end) return -1;
    const uint64_t rest = front ? pack(first + 1, end) : pack(first, end - 1);
    if (run.range.compare_exchange_weak(range, rest, std::memory_order_relaxed)) {
      return front ? first : end - 1;
    }
  }
}

void detail::AlignedFree::operator()(void* p) const noexcept { std::free(p); }

void* detail::zeroed_aligned_alloc(size_t bytes) {
  const size_t size = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  // Weights of 2 MB and more start on a 2 MB boundary and ask for transparent huge pages over
  // their whole 2 MB pages (the tail keeps small pages, so resident memory does not grow): a
  // query streams every weight once, and with 4 KB pages it pays a TLB miss and a restart of the
  // hardware prefetchers every 4 KB (fp32 batch-1 6% faster here, batches unchanged).
  const bool huge = size >= kHugePage;
  void* p = nullptr;  // posix_memalign: unlike aligned_alloc, no size-multiple rule
  if (posix_memalign(&p, huge ? kHugePage : kAlignment, size) != 0) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (huge) madvise(p, size / kHugePage * kHugePage, MADV_HUGEPAGE);  // advice only: errors ignored
#endif
  // Zeroed on every thread: the first touch faults the pages in, and the kernel clearing them was
  // the largest part of a model's load on one thread.
  const int64_t chunks = int64_t((size + kHugePage - 1) / kHugePage);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const size_t first = size_t(c) * kHugePage;
    std::memset(static_cast<char*>(p) + first, 0, std::min(kHugePage, size - first));
  }
  return p;
}

PackedS8Weights::PackedS8Weights(const int8_t* weight, int64_t out, int64_t in)
    : out_(out),
      in_(in),
      padded_in_((in + 3) / 4 * 4),
      panels_((out + kGemmPanelColumns - 1) / kGemmPanelColumns),
      data_(static_cast<int8_t*>(detail::zeroed_aligned_alloc(bytes()))) {
  for (int64_t o = 0; o < out; ++o) {
    int8_t* column = data_.get() + (o / kGemmPanelColumns) * padded_in_ * kGemmPanelColumns +
                     (o % kGemmPanelColumns) * 4;
    for (int64_t i = 0; i < in; ++i) {
      column[i / 4 * kGemmPanelColumns * 4 + i % 4] = weight[o * in + i];
    }
  }
}

void detail::gemm_u8s8_packed(const PackedS8Weights& w, const GemmU8S8Args& args,
                              GemmU8S8Tile tile) {
  if (args.rows <= 0) return;
  const int64_t out = w.out_features();
  for_each_register_tile(
      {kGemmU8S8TileRows, 1, kGemmTilingAvx2.block_rows, kGemmTilingAvx2.group_panels}, args.rows,
      w.panels(), out, [](int64_t, int64_t) {},
      // A query's int8 weights are a quarter of the bytes and mostly stay in L3: fetching the
      // next panel measured no faster (12 interleaved rounds), so the tile reads ahead in its own.
      [&](int64_t r, int n, int64_t p, int64_t c0, int cols, bool /*prefetch_next_panel*/) {
        tile(args.x + r * args.x_stride, args.x_stride, n, w.panel(p), w.padded_in(),
             args.y + r * out + c0, out, cols);
      },
      [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
        if (args.finish) args.finish(args.context, r0, r1, c0, c1);
      });
}

void scalar::gemm_u8s8_packed(const PackedS8Weights& weights, const GemmU8S8Args& args) {
  detail::gemm_u8s8_packed(weights, args, &scalar_u8s8_tile);
}

void gemm_u8s8_packed(const PackedS8Weights& weights, const GemmU8S8Args& args) {
  if (active_isa() >= Isa::kAvx2) {
    avx2::gemm_u8s8_packed(weights, args);
  } else {
    scalar::gemm_u8s8_packed(weights, args);
  }
}

PackedF32Weights::PackedF32Weights(const float* weight, const float* bias, int64_t out, int64_t in)
    : out_(out),
      in_(in),
      panels_((out + kGemmPanelColumns - 1) / kGemmPanelColumns),
      data_(static_cast<float*>(detail::zeroed_aligned_alloc(bytes()))) {
  // A panel at a time, each written in order while its 16 rows are read in step, on every thread:
  // a model's weights are hundreds of MB, and packing them one column at a time on one thread took
  // a third of all-mpnet-base-v2's load.
#pragma omp parallel for schedule(static) if (out * in >= (int64_t{1} << 20))
  for (int64_t p = 0; p < panels_; ++p) {
    float* panel = data_.get() + p * in * kGemmPanelColumns;
    const int64_t o0 = p * kGemmPanelColumns;
    const int64_t n = std::min(kGemmPanelColumns, out - o0);
    for (int64_t i = 0; i < in; ++i) {
      for (int64_t c = 0; c < n; ++c) panel[i * kGemmPanelColumns + c] = weight[(o0 + c) * in + i];
    }
  }
  if (bias) std::copy(bias, bias + out, data_.get() + panels_ * in * kGemmPanelColumns);
}

PackedF32Weights::PackedF32Weights(const std::function<const float*(int64_t)>& row_of,
                                   const float* bias, int64_t out, int64_t in)
    : out_(out),
      in_(in),
      panels_((out + kGemmPanelColumns - 1) / kGemmPanelColumns),
      data_(static_cast<float*>(detail::zeroed_aligned_alloc(bytes()))) {
  for (int64_t o = 0; o < out; ++o) {
    float* column =
        data_.get() + (o / kGemmPanelColumns) * in * kGemmPanelColumns + o % kGemmPanelColumns;
    const float* row = row_of(o);
    for (int64_t i = 0; i < in; ++i) column[i * kGemmPanelColumns] = row[i];
  }
  if (bias) std::copy(bias, bias + out, data_.get() + panels_ * in * kGemmPanelColumns);
}

size_t PackedF32Weights::bytes() const noexcept {
  return (size_t(panels_) * size_t(in_) + size_t(panels_)) * kGemmPanelColumns * sizeof(float);
}

void detail::gemm_tile_scalar(const GemmTileArgs& t) {
  for (int r = 0; r < t.rows; ++r) {
    for (int c = 0; c < t.cols; ++c) {
      const float* column =
          t.panel + c / kGemmPanelColumns * t.k * kGemmPanelColumns + c % kGemmPanelColumns;
      float acc = 0.0f;
      for (int64_t i = 0; i < t.k; ++i) {
        acc = std::fma(t.a[i * t.rows + r], column[i * kGemmPanelColumns], acc);
      }
      acc += t.bias[c];
      if (t.residual) acc += t.residual[r * t.ldy + c];
      t.y[r * t.ldy + c] = acc;
    }
  }
}

void detail::interleave_rows_scalar(const float* x, int64_t in, int rows, float* dst) {
  for (int64_t i = 0; i < in; ++i, dst += rows) {
    for (int r = 0; r < rows; ++r) dst[r] = x[r * in + i];
  }
}

void detail::gemm_packed(const PackedF32Weights& w, const GemmArgs& args, GemmTile tile,
                         GemmInterleaveRows interleave, const GemmTiling& tiling) {
  const int64_t in = w.in_features(), out = w.out_features();
  if (args.rows <= 0) return;
  // Each thread copies the rows of its current row block into its own buffer (at most
  // tiling.block_rows x in floats), each register tile's rows interleaved ([k][rows]), and every
  // panel of the block reads them from there: 2-5% faster than broadcasting from six rows apart.
  thread_local std::vector<float> packed_rows;
  thread_local int64_t packed_first_row = 0;
  const auto pack_rows = [&](int64_t r0, int64_t r1) {
    packed_rows.resize(size_t((r1 - r0) * in));
    packed_first_row = r0;
    for (int64_t r = r0; r < r1; r += tiling.tile_rows) {
      interleave(args.x + r * in, in, int(std::min<int64_t>(tiling.tile_rows, r1 - r)),
                 packed_rows.data() + (r - r0) * in);
    }
  };
  // Without an activation, the tile adds the residual to the sum it holds in registers (the same
  // operations in the same order as a pass over y, one pass fewer).
  const bool tile_adds_residual = args.activation == Activation::kNone && args.residual;
  const int64_t pairs = (w.panels() + tiling.tile_panels - 1) / tiling.tile_panels;
  for_each_register_tile(
      tiling, args.rows, w.panels(), out, pack_rows,
      [&](int64_t r, int n, int64_t p, int64_t c0, int cols, bool prefetch_next_panel) {
        detail::GemmPrefetch next_panels, next_rows;
        if (tiling.prefetch_to_l2) {
          const int64_t r0 = packed_first_row;
          const int64_t r1 = r0 + int64_t(packed_rows.size()) / in;
          const int64_t row_tiles = (r1 - r0 + tiling.tile_rows - 1) / tiling.tile_rows;
          const int64_t j = (r - r0) / tiling.tile_rows;
          next_panels = share_of_next_panels(w, tiling, p, j, row_tiles);
          next_rows = share_of_next_rows(args.x, in, args.rows, r0, r1,
                                         p / tiling.tile_panels * row_tiles + j, row_tiles * pairs);
          prefetch_next_panel = false;
        }
        tile({packed_rows.data() + (r - packed_first_row) * in, n, w.panel(p), in, w.bias() + c0,
              tile_adds_residual ? args.residual + r * out + c0 : nullptr, args.y + r * out + c0,
              out, cols, prefetch_next_panel, next_panels, next_rows});
      },
      [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
        if (args.activation == Activation::kNone) return;
        for (int64_t r = r0; r < r1; ++r) {
          float* y = args.y + r * out;
          apply_activation(args.activation, y + c0, c1 - c0);
          if (args.residual) {
            const float* res = args.residual + r * out;
            for (int64_t c = c0; c < c1; ++c) y[c] += res[c];
          }
        }
      },
      args.rows_done);
}

void scalar::gemm_packed(const PackedF32Weights& weights, const GemmArgs& args) {
  detail::gemm_packed(weights, args, &detail::gemm_tile_scalar, &detail::interleave_rows_scalar,
                      detail::kGemmTilingAvx2);
}

void gemm_packed(const PackedF32Weights& weights, const GemmArgs& args) {
  if (active_isa() >= Isa::kAvx512) {
    avx512::gemm_packed(weights, args);
  } else if (active_isa() >= Isa::kAvx2) {
    avx2::gemm_packed(weights, args);
  } else {
    scalar::gemm_packed(weights, args);
  }
}

}  // namespace embedrt::kernels
