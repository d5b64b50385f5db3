#include "kernels/cpu/softmax.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "kernels/wide_simd_avx2.h"
#include "test_util.h"

namespace embedrt::kernels {
namespace {

using testing::max_abs_diff;
using testing::random_vector;

TEST(Softmax, ScalarMatchesClosedForm) {
  std::vector<float> x{0.0f, 1.0f, 2.0f};
  scalar::scaled_softmax_row(x.data(), 3, 0.5f);
  const double z = 1 + std::exp(0.5) + std::exp(1.0);
  EXPECT_NEAR(x[0], 1 / z, 1e-7);
  EXPECT_NEAR(x[2], std::exp(1.0) / z, 1e-7);
}

using RowKernel = void (*)(float* x, int64_t cols, float scale);

// Widths below, at and around both vector lengths (8 and 16 lanes).
void expect_matches_scalar(RowKernel kernel) {
  for (int64_t cols : {1, 3, 8, 13, 15, 16, 17, 31, 128, 509}) {
    auto x = random_vector(cols, 11 + cols, -30.0f, 30.0f);
    auto expected = x, actual = x;
    scalar::scaled_softmax_row(expected.data(), cols, 0.17677669f);
    kernel(actual.data(), cols, 0.17677669f);
    EXPECT_LE(max_abs_diff(expected, actual), 1e-6f) << "cols=" << cols;
    EXPECT_NEAR(std::accumulate(actual.begin(), actual.end(), 0.0), 1.0, 1e-5);
  }
  // Logits 2000 apart: exp underflows to exactly 0 in the vector loop and in the tail alike.
  for (int64_t cols : {3, 9, 17, 33}) {
    std::vector<float> x(cols);
    for (int64_t c = 0; c < cols; ++c) x[c] = c % 3 == 0 ? 1000.0f : c % 3 == 1 ? 999.0f : -1000.0f;
    auto expected = x, actual = x;
    scalar::scaled_softmax_row(expected.data(), cols, 1.0f);
    kernel(actual.data(), cols, 1.0f);
    EXPECT_LE(max_abs_diff(expected, actual), 1e-6f) << "saturated cols=" << cols;
    for (int64_t c = 2; c < cols; c += 3) EXPECT_EQ(actual[c], 0.0f) << "cols=" << cols;
  }
}

TEST(Softmax, Avx2MatchesScalarReference) {
  EMBEDRT_REQUIRE_AVX2();
  expect_matches_scalar(&avx2::scaled_softmax_row);
}

// The AVX-512 kernel's 16-lane code, built for AVX2, so that it runs on any AVX2 machine.
TEST(Softmax, Wide16OnAvx2MatchesScalarReference) {
  EMBEDRT_REQUIRE_AVX2();
  expect_matches_scalar(&wide16::scaled_softmax_row);
}

TEST(Softmax, Avx512MatchesScalarReference) {
  EMBEDRT_REQUIRE_AVX512();
  expect_matches_scalar(&avx512::scaled_softmax_row);
}

TEST(Softmax, LargeLogitsDoNotOverflow) {
  std::vector<float> x{1000.0f, 999.0f, -1000.0f, 1000.0f, 0, 0, 0, 0, 0};
  scaled_softmax(x.data(), 1, x.size(), 1.0f);
  for (float v : x) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(x[0], x[3], 1e-7);
  EXPECT_NEAR(x[0], 1.0 / (2 + std::exp(-1.0)), 1e-6);
}

}  // namespace
}  // namespace embedrt::kernels
