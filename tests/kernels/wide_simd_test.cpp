// The vector helpers of kernels/cpu/wide_simd.h (16 lanes), run through the AVX2 build in
// wide_simd_avx2.cpp; the kernels built on them are compared with the scalar references in each
// kernel's own test file (the Wide16OnAvx2 tests).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "kernels/wide_simd_avx2.h"
#include "test_util.h"

namespace embedrt::kernels {
namespace {

using testing::random_vector;

// Evenly spaced points over [lo, hi], both ends included.
std::vector<float> sweep(float lo, float hi, size_t n) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = lo + (hi - lo) * float(i) / float(n - 1);
  return x;
}

TEST(WideSimd, ExpRelativeErrorOnTheUsefulRange) {
  EMBEDRT_REQUIRE_AVX2();
  const auto x = sweep(-87.0f, 88.0f, 100003);
  std::vector<float> y(x.size());
  wide16::exp(x.data(), x.size(), y.data());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp(double(x[i]));
    worst = std::max(worst, std::fabs(y[i] - want) / want);
  }
  EXPECT_LT(worst, 2e-7);
}

// The 16-lane exp is meant to be avx2_math::exp with wider vectors: same constants, clamping and
// polynomial, so the same bits, including the clamped and underflowing inputs.
TEST(WideSimd, ExpIsBitIdenticalToTheAvx2Exp) {
  EMBEDRT_REQUIRE_AVX2();
  auto x = sweep(-100.0f, 100.0f, 40001);
  for (float v : {-1e30f, -1000.0f, -87.3365478515625f, -87.34f, -87.33f, 88.3762626647949f, 88.38f,
                  89.0f, 1000.0f, 1e30f, 0.0f, -0.0f, 1e-30f, -1e-30f}) {
    x.push_back(v);
  }
  std::vector<float> wide(x.size()), avx2(x.size());
  wide16::exp(x.data(), x.size(), wide.data());
  wide16::exp_avx2(x.data(), x.size(), avx2.data());
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(std::memcmp(&wide[i], &avx2[i], sizeof(float)), 0)
        << "x=" << x[i] << " wide=" << wide[i] << " avx2=" << avx2[i];
  }
}

TEST(WideSimd, ExpUnderflowsToZeroAndClampsOverflow) {
  EMBEDRT_REQUIRE_AVX2();
  const std::vector<float> x{-87.5f, -88.0f, -100.0f, -1e4f, -1e30f, -INFINITY,
                             88.5f,  89.0f,  100.0f,  1e4f,  1e30f,  INFINITY};
  std::vector<float> y(x.size()), at_max(1);
  wide16::exp(x.data(), x.size(), y.data());
  const float max_x = 88.3762626647949f;
  wide16::exp(&max_x, 1, at_max.data());
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(y[i], 0.0f) << "x=" << x[i];
  // Above the clamp every input gives exp(88.376...), never NaN.
  for (size_t i = 6; i < x.size(); ++i) {
    EXPECT_FALSE(std::isnan(y[i])) << "x=" << x[i];
    EXPECT_EQ(y[i], at_max[0]) << "x=" << x[i];
  }
}

TEST(WideSimd, ErfAndTanhMatchTheLibrary) {
  EMBEDRT_REQUIRE_AVX2();
  auto x = sweep(-10.0f, 10.0f, 20001);
  for (float v : {-1e4f, -100.0f, -1e-30f, 0.0f, 1e-30f, 100.0f, 1e4f}) x.push_back(v);
  std::vector<float> erf(x.size()), tanh(x.size());
  wide16::erf(x.data(), x.size(), erf.data());
  wide16::tanh(x.data(), x.size(), tanh.data());
  double worst_erf = 0, worst_tanh = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    worst_erf = std::max(worst_erf, std::fabs(erf[i] - std::erf(double(x[i]))));
    worst_tanh = std::max(worst_tanh, std::fabs(tanh[i] - std::tanh(double(x[i]))));
    // Both are computed on |x| and given x's sign (near 0, erf's 1 - erfc may round below 0).
    if (std::fabs(x[i]) >= 0.01f) {
      EXPECT_EQ(std::signbit(erf[i]), std::signbit(x[i])) << "x=" << x[i];
      EXPECT_EQ(std::signbit(tanh[i]), std::signbit(x[i])) << "x=" << x[i];
    }
  }
  EXPECT_LT(worst_erf, 3.5e-7);  // the rational fit's bound, a few float ulps of 1
  EXPECT_LT(worst_tanh, 2e-7);
}

TEST(WideSimd, TailsReadAndWriteOnlyTheirElements) {
  EMBEDRT_REQUIRE_AVX2();
  for (int64_t n : {1, 3, 8, 13, 15, 16, 17, 31}) {
    const auto x = random_vector(n, 60 + n, -5.0f, 5.0f);
    std::vector<float> y(n + 16, 123.0f);
    wide16::exp(x.data(), n, y.data());
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y[i], std::exp(x[i]), 2e-7 * std::exp(x[i]));
    for (int64_t i = n; i < n + 16; ++i) EXPECT_EQ(y[i], 123.0f) << "n=" << n << " i=" << i;
  }
}

TEST(WideSimd, HorizontalSumAndMaxCoverAllLanes) {
  EMBEDRT_REQUIRE_AVX2();
  for (int lane = 0; lane < 16; ++lane) {
    std::vector<float> v(16, -1.0f);
    v[lane] = 5.0f;
    EXPECT_EQ(wide16::horizontal_max(v.data()), 5.0f) << "lane=" << lane;
    EXPECT_EQ(wide16::horizontal_sum(v.data()), -15.0f + 5.0f) << "lane=" << lane;
  }
  const auto v = random_vector(16, 77);
  EXPECT_NEAR(wide16::horizontal_sum(v.data()), std::accumulate(v.begin(), v.end(), 0.0), 1e-6);
}

}  // namespace
}  // namespace embedrt::kernels
