#include "kernels/cpu/softmax.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

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

TEST(Softmax, Avx2MatchesScalarReference) {
  EMBEDRT_REQUIRE_AVX2();
  for (int64_t cols : {1, 3, 8, 13, 128, 509}) {
    auto x = random_vector(cols, 11 + cols, -30.0f, 30.0f);
    auto expected = x, actual = x;
    scalar::scaled_softmax_row(expected.data(), cols, 0.17677669f);
    avx2::scaled_softmax_row(actual.data(), cols, 0.17677669f);
    EXPECT_LE(max_abs_diff(expected, actual), 1e-6f) << "cols=" << cols;
    EXPECT_NEAR(std::accumulate(actual.begin(), actual.end(), 0.0), 1.0, 1e-5);
  }
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
