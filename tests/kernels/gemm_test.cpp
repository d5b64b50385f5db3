#include "kernels/cpu/gemm.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <initializer_list>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"

namespace embedrt::kernels {
namespace {

using testing::max_abs_diff;
using testing::random_vector;

struct GemmShape {
  int64_t rows, in, out;
  bool bias;
};

std::vector<float> run(void (*gemm)(const PackedF32Weights&, const GemmArgs&),
                       const PackedF32Weights& w, const std::vector<float>& x, int64_t rows,
                       const float* residual = nullptr, Activation act = Activation::kNone) {
  std::vector<float> y(rows * w.out_features(), NAN);
  gemm(w, {x.data(), rows, y.data(), residual, act, {}});
  return y;
}

// Both kernels compute each element as one fma chain in ascending k (then bias, then residual),
// so they agree to the bit; the shapes cover every tile height (1-6 rows), partial panels and
// partial column groups, with and without the residual the tile adds itself.
TEST(PackedGemm, Avx2MatchesScalarBitForBit) {
  EMBEDRT_REQUIRE_AVX2();
  for (const GemmShape& s :
       {GemmShape{1, 384, 1152, true}, GemmShape{5, 33, 17, false}, GemmShape{13, 1536, 384, true},
        GemmShape{50, 64, 100, true}, GemmShape{97, 7, 3, false}}) {
    const auto w = random_vector(s.out * s.in, 1, -0.2f, 0.2f);
    const auto b = random_vector(s.out, 2);
    const auto x = random_vector(s.rows * s.in, 3, -2.0f, 2.0f);
    const PackedF32Weights packed(w.data(), s.bias ? b.data() : nullptr, s.out, s.in);
    const auto expected = run(&scalar::gemm_packed, packed, x, s.rows);
    const auto actual = run(&avx2::gemm_packed, packed, x, s.rows);
    EXPECT_EQ(expected, actual) << s.rows << "x" << s.in << "x" << s.out;
    const auto residual = random_vector(s.rows * s.out, 4);
    EXPECT_EQ(run(&scalar::gemm_packed, packed, x, s.rows, residual.data()),
              run(&avx2::gemm_packed, packed, x, s.rows, residual.data()))
        << s.rows << "x" << s.in << "x" << s.out << " with residual";
  }
}

// The AVX-512 tiles are 12 rows x 2 panels: the shapes cover every tile height (1-12 rows, and
// blocks that end in a short tile), a last tile of one panel or of one partial panel, partial
// column groups, the residual added in the tile and the activation added after it.
TEST(PackedGemm, Avx512MatchesScalarBitForBit) {
  EMBEDRT_REQUIRE_AVX512();
  for (const GemmShape& s :
       {GemmShape{1, 384, 1152, true}, GemmShape{5, 33, 17, false}, GemmShape{12, 64, 48, true},
        GemmShape{13, 1536, 384, true}, GemmShape{50, 64, 100, true}, GemmShape{97, 7, 3, false},
        GemmShape{131, 200, 272, true}}) {
    const auto w = random_vector(s.out * s.in, 1, -0.2f, 0.2f);
    const auto b = random_vector(s.out, 2);
    const auto x = random_vector(s.rows * s.in, 3, -2.0f, 2.0f);
    const PackedF32Weights packed(w.data(), s.bias ? b.data() : nullptr, s.out, s.in);
    const std::string shape =
        std::to_string(s.rows) + "x" + std::to_string(s.in) + "x" + std::to_string(s.out);
    EXPECT_EQ(run(&scalar::gemm_packed, packed, x, s.rows),
              run(&avx512::gemm_packed, packed, x, s.rows))
        << shape;
    const auto residual = random_vector(s.rows * s.out, 4);
    EXPECT_EQ(run(&scalar::gemm_packed, packed, x, s.rows, residual.data()),
              run(&avx512::gemm_packed, packed, x, s.rows, residual.data()))
        << shape << " with residual";
    EXPECT_EQ(run(&avx2::gemm_packed, packed, x, s.rows, residual.data(), Activation::kRelu),
              run(&avx512::gemm_packed, packed, x, s.rows, residual.data(), Activation::kRelu))
        << shape << " with relu and residual";
  }
}

// A vector row copy gives the scalar copy's layout for every row count up to `max_rows` and every
// length in `lengths`, and writes nothing past rows * in.
void expect_interleaves_like_scalar(detail::GemmInterleaveRows copy, int max_rows,
                                    std::initializer_list<int64_t> lengths) {
  for (int rows = 1; rows <= max_rows; ++rows) {
    for (int64_t in : lengths) {
      const auto x = random_vector(rows * in, 5);
      std::vector<float> expected(rows * in + 16, -1.0f), actual(rows * in + 16, -1.0f);
      detail::interleave_rows_scalar(x.data(), in, rows, expected.data());
      copy(x.data(), in, rows, actual.data());
      EXPECT_EQ(expected, actual) << rows << " rows of " << in;
      EXPECT_EQ(actual[rows * in], -1.0f) << rows << " rows of " << in;
    }
  }
}

// The AVX-512 copy transposes 8 k of up to 6 rows at a time and finishes the last k in scalar
// code: every row count up to a tile's and lengths around those edges.
TEST(PackedGemm, Avx512InterleavesRowsLikeScalar) {
  EMBEDRT_REQUIRE_AVX512();
  expect_interleaves_like_scalar(&detail::interleave_rows_avx512,
                                 int(detail::kGemmTilingAvx512.tile_rows),
                                 {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 384});
}

// The AVX2 copy stores eight floats per k and finishes the last eight k in scalar code.
TEST(PackedGemm, Avx2InterleavesRowsLikeScalar) {
  EMBEDRT_REQUIRE_AVX2();
  expect_interleaves_like_scalar(&detail::interleave_rows_avx2, detail::kGemmTileRows,
                                 {1, 7, 8, 9, 15, 16, 17, 24, 384});
}

// The residual is added after the activation (in the block epilogue) or, without one, by the
// tile itself.
TEST(PackedGemm, MatchesDoublePrecisionWithActivationAndResidual) {
  const int64_t rows = 19, in = 200, out = 70;
  const auto w = random_vector(out * in, 4, -0.2f, 0.2f);
  const auto b = random_vector(out, 5);
  const auto x = random_vector(rows * in, 6, -2.0f, 2.0f);
  const auto residual = random_vector(rows * out, 7);
  const PackedF32Weights packed(w.data(), b.data(), out, in);
  for (Activation act : {Activation::kRelu, Activation::kNone}) {
    const auto y = run(&gemm_packed, packed, x, rows, residual.data(), act);
    std::vector<float> expected(rows * out);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t o = 0; o < out; ++o) {
        double acc = b[o];
        for (int64_t i = 0; i < in; ++i) acc += double(x[r * in + i]) * w[o * in + i];
        if (act == Activation::kRelu) acc = std::max(acc, 0.0);
        expected[r * out + o] = float(acc) + residual[r * out + o];
      }
    }
    EXPECT_LE(max_abs_diff(expected, y), 1e-6f * in + 1e-5f) << to_string(act);
  }
}

// The encoder's batch invariance rests on this: a row's bits do not depend on the row count, the
// row's position or the thread count.
TEST(PackedGemm, RowsAreBitIdenticalAcrossRowCountsPositionsAndThreads) {
  const int64_t in = 384, out = 1536;
  const auto w = random_vector(out * in, 8, -0.1f, 0.1f);
  const auto b = random_vector(out, 9);
  const PackedF32Weights packed(w.data(), b.data(), out, in);
  const auto x = random_vector(200 * in, 10);
  const int saved_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<float> row(x.begin() + 5 * in, x.begin() + 6 * in);
  const auto single = run(&gemm_packed, packed, row, 1, nullptr, Activation::kGeluErf);
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    for (int64_t rows : {6, 7, 12, 49, 200}) {
      for (int64_t first : {0, 1, 4}) {
        if (first + rows > 200 || first > 5) continue;
        const std::vector<float> part(x.begin() + first * in, x.begin() + (first + rows) * in);
        const auto y = run(&gemm_packed, packed, part, rows, nullptr, Activation::kGeluErf);
        const auto at = y.begin() + (5 - first) * out;
        EXPECT_TRUE(std::equal(single.begin(), single.end(), at))
            << "rows=" << rows << " first=" << first << " threads=" << threads;
      }
    }
  }
  omp_set_num_threads(saved_threads);
}

// Threads that finish their own run take blocks from the others' runs, so who computes a block
// varies from call to call; every block must still be handed out exactly once, including when the
// team is smaller or larger than the runs were made for, and when there are fewer blocks than runs.
TEST(BlockRuns, HandsOutEveryBlockExactlyOnceToAnyTeam) {
  for (const int runs : {1, 2, 3, 8}) {
    for (const int team : {1, 2, 4}) {
      for (const int64_t blocks : {0, 1, 2, 5, 64, 1000}) {
        for (int trial = 0; trial < 20; ++trial) {
          std::vector<std::atomic<int>> taken(blocks);
          std::atomic<int64_t> out_of_range{0};
          detail::BlockRuns deal(blocks, runs);
#pragma omp parallel num_threads(team)
          {
            const int thread = omp_get_thread_num();
            for (int64_t b = deal.next(thread); b >= 0; b = deal.next(thread)) {
              if (b >= blocks) {
                out_of_range.fetch_add(1);
              } else {
                taken[b].fetch_add(1);
              }
            }
          }
          ASSERT_EQ(out_of_range.load(), 0);
          for (int64_t b = 0; b < blocks; ++b) {
            ASSERT_EQ(taken[b].load(), 1) << "block " << b << " of " << blocks << ", " << runs
                                          << " runs, team of " << team << ", trial " << trial;
          }
        }
      }
    }
  }
}

// A thread empties its own run front to back, so with one thread it sees the blocks in order.
TEST(BlockRuns, OneThreadTakesItsOwnRunInOrderThenTheOthersFromTheBack) {
  detail::BlockRuns deal(10, 2);  // runs [0, 5) and [5, 10)
  std::vector<int64_t> order;
  for (int64_t b = deal.next(0); b >= 0; b = deal.next(0)) order.push_back(b);
  EXPECT_EQ(order, (std::vector<int64_t>{0, 1, 2, 3, 4, 9, 8, 7, 6, 5}));
}

TEST(PackedGemm, PadsTheLastPanelAndKeepsNoMoreThanThePaddedWeights) {
  const int64_t in = 10, out = 20;  // two panels, the second with 4 of 16 columns used
  const auto w = random_vector(out * in, 11);
  const PackedF32Weights packed(w.data(), nullptr, out, in);
  EXPECT_EQ(packed.panels(), 2);
  EXPECT_EQ(packed.bytes(), size_t(2 * (in + 1) * kGemmPanelColumns) * sizeof(float));
  for (int64_t i = 0; i < in; ++i) {
    EXPECT_EQ(packed.panel(1)[i * kGemmPanelColumns + 3], w[19 * in + i]);
    EXPECT_EQ(packed.panel(1)[i * kGemmPanelColumns + 4], 0.0f);
  }
  EXPECT_EQ(packed.bias()[0], 0.0f);
}

std::vector<int32_t> run_u8s8(void (*gemm)(const PackedS8Weights&, const GemmU8S8Args&),
                              const PackedS8Weights& w, const std::vector<uint8_t>& x, int64_t rows,
                              int64_t stride) {
  std::vector<int32_t> y(rows * w.out_features(), -1);
  gemm(w, {x.data(), rows, stride, y.data()});
  return y;
}

// Extreme values (255 activations against +-63 weights) check that no int16 step saturates; the
// shapes cover every tile height (1-4 rows), padded k and partial panels.
TEST(PackedGemmU8S8, ScalarAndAvx2GiveTheExactSums) {
  std::mt19937 gen(12);
  for (const GemmShape& s : {GemmShape{1, 384, 1152, false}, GemmShape{7, 33, 17, false},
                             GemmShape{13, 1536, 384, false}, GemmShape{50, 6, 40, false}}) {
    std::vector<int8_t> w(s.out * s.in);
    for (int8_t& v : w) v = int8_t(int(gen() % 3) - 1) * kGemmS8WeightMax;
    const PackedS8Weights packed(w.data(), s.out, s.in);
    const int64_t stride = packed.padded_in();
    std::vector<uint8_t> x(s.rows * stride, 0);
    for (int64_t r = 0; r < s.rows; ++r) {
      for (int64_t i = 0; i < s.in; ++i) x[r * stride + i] = gen() % 4 == 0 ? gen() % 256 : 255;
    }
    std::vector<int32_t> expected(s.rows * s.out);
    for (int64_t r = 0; r < s.rows; ++r) {
      for (int64_t o = 0; o < s.out; ++o) {
        int64_t acc = 0;
        for (int64_t i = 0; i < s.in; ++i) acc += int64_t(x[r * stride + i]) * w[o * s.in + i];
        expected[r * s.out + o] = int32_t(acc);
      }
    }
    const std::string shape =
        std::to_string(s.rows) + "x" + std::to_string(s.in) + "x" + std::to_string(s.out);
    EXPECT_EQ(run_u8s8(&scalar::gemm_u8s8_packed, packed, x, s.rows, stride), expected) << shape;
    if (detect_cpu_isa() >= Isa::kAvx2) {
      EXPECT_EQ(run_u8s8(&avx2::gemm_u8s8_packed, packed, x, s.rows, stride), expected) << shape;
    }
  }
}

// RowsDone: the ranges partition the rows, each arrives once every column of its rows holds its
// final value, and a hook that rewrites its rows (as the encoder's norms do) leaves the others'
// results alone.
struct RowsSeen {
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  std::vector<float> at_call;  // y as each range was reported
  const std::vector<float>* y = nullptr;
  int64_t out = 0;
  static void record(const void* self, int64_t r0, int64_t r1) {
    auto& seen = *const_cast<RowsSeen*>(static_cast<const RowsSeen*>(self));
    std::lock_guard<std::mutex> lock(seen.mutex);
    seen.ranges.emplace_back(r0, r1);
    std::copy(seen.y->begin() + r0 * seen.out, seen.y->begin() + r1 * seen.out,
              seen.at_call.begin() + r0 * seen.out);
  }
};

TEST(PackedGemm, RowsDoneReportsEveryRowOnceAfterItsLastColumn) {
  const int64_t in = 96, out = 300;  // 19 panels: several column groups and a partial panel
  const auto w = random_vector(out * in, 8, -0.2f, 0.2f);
  const auto b = random_vector(out, 9);
  const PackedF32Weights packed(w.data(), b.data(), out, in);
  for (const int64_t rows : {1, 13, 48, 97, 250}) {
    const auto x = random_vector(rows * in, 10, -2.0f, 2.0f);
    const auto expected = run(&gemm_packed, packed, x, rows);
    std::vector<float> y(rows * out, NAN);
    RowsSeen seen;
    seen.y = &y;
    seen.out = out;
    seen.at_call.assign(rows * out, NAN);
    gemm_packed(packed,
                {x.data(), rows, y.data(), nullptr, Activation::kNone, {&RowsSeen::record, &seen}});
    std::sort(seen.ranges.begin(), seen.ranges.end());
    int64_t next = 0;
    for (const auto& [r0, r1] : seen.ranges) {
      EXPECT_EQ(r0, next) << rows << " rows";
      EXPECT_LT(r0, r1) << rows << " rows";
      next = r1;
    }
    EXPECT_EQ(next, rows);
    EXPECT_EQ(seen.at_call, expected) << rows << " rows";
    EXPECT_EQ(y, expected) << rows << " rows";
  }
}

}  // namespace
}  // namespace embedrt::kernels
