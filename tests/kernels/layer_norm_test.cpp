#include "kernels/cpu/layer_norm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kernels/wide_simd_avx2.h"
#include "test_util.h"

namespace embedrt::kernels {
namespace {

using testing::max_abs_diff;
using testing::random_vector;

TEST(LayerNorm, ScalarNormalizesEachRow) {
  const std::vector<float> x{1, 2, 3, 4}, residual{1, 1, 1, 1};
  const std::vector<float> gamma{1, 1, 2, 1}, beta{0, 0, 0, 0.5f};
  std::vector<float> out(4);
  scalar::add_layer_norm_row(x.data(), residual.data(), gamma.data(), beta.data(), 0.0f, 4,
                             out.data());
  // (2,3,4,5): mean 3.5, variance 1.25.
  const float s = 1.0f / std::sqrt(1.25f);
  EXPECT_NEAR(out[0], -1.5f * s, 1e-6);
  EXPECT_NEAR(out[2], 2 * 0.5f * s, 1e-6);
  EXPECT_NEAR(out[3], 1.5f * s + 0.5f, 1e-6);
}

TEST(RmsNorm, NormalizesEachRowAndAddsAfter) {
  // Rows (3, 4) and (1, 1) with stride 3 (the third float of a row is left alone).
  const std::vector<float> x{3, 4, 9, 1, 1, 9}, gamma{1, 2}, add{10, 20, 0, 30, 40, 0};
  std::vector<float> out(6, -1.0f);
  rms_norm(x.data(), gamma.data(), 0.0f, 2, 2, 3, out.data());
  const float a = 1.0f / std::sqrt(12.5f);
  EXPECT_NEAR(out[0], 3 * a, 1e-6);
  EXPECT_NEAR(out[1], 8 * a, 1e-6);
  EXPECT_EQ(out[2], -1.0f);
  EXPECT_NEAR(out[3], 1.0f, 1e-6);
  EXPECT_NEAR(out[4], 2.0f, 1e-6);
  std::vector<float> summed = add;
  rms_norm(x.data(), gamma.data(), 0.0f, 2, 2, 3, summed.data(), summed.data());
  EXPECT_NEAR(summed[0], 10 + 3 * a, 1e-5);
  EXPECT_NEAR(summed[4], 42.0f, 1e-5);
  EXPECT_EQ(summed[2], 0.0f);
}

TEST(RmsNorm, HeadsNormalizeEachHeadInPlace) {
  const int64_t tokens = 3, stride = 11, heads = 2, dim = 4;
  auto x = random_vector(tokens * stride, 3, -2.0f, 2.0f);
  const auto gamma = random_vector(dim, 4, 0.5f, 1.5f);
  auto expected = x;
  for (int64_t t = 0; t < tokens; ++t) {
    rms_norm(x.data() + t * stride, gamma.data(), 1e-6f, heads, dim, dim,
             expected.data() + t * stride);
  }
  rms_norm_heads(x.data(), tokens, stride, heads, dim, gamma.data(), 1e-6f);
  EXPECT_EQ(x, expected);
}

using RowKernel = void (*)(const float* x, const float* residual, const float* gamma,
                           const float* beta, float eps, int64_t cols, float* out);

// Widths below, at and around both vector lengths (8 and 16 lanes), so that every kernel runs its
// scalar tail alone, its vector loop alone and both together.
void expect_matches_scalar(RowKernel kernel) {
  for (int64_t cols : {1, 3, 5, 8, 13, 15, 16, 17, 31, 384, 509, 1023}) {
    for (bool with_residual : {false, true}) {
      const int64_t rows = 3;
      auto x = random_vector(rows * cols, 1 + cols, -4.0f, 6.0f);
      x[0] = 250.0f;  // an outlier column, as BERT hidden states have
      const auto residual = random_vector(rows * cols, 2 + cols);
      const auto gamma = random_vector(cols, 3, 0.5f, 1.5f);
      const auto beta = random_vector(cols, 4);
      std::vector<float> expected(rows * cols), actual(rows * cols);
      for (int64_t r = 0; r < rows; ++r) {
        const float* res = with_residual ? residual.data() + r * cols : nullptr;
        scalar::add_layer_norm_row(x.data() + r * cols, res, gamma.data(), beta.data(), 1e-12f,
                                   cols, expected.data() + r * cols);
        kernel(x.data() + r * cols, res, gamma.data(), beta.data(), 1e-12f, cols,
               actual.data() + r * cols);
      }
      EXPECT_LE(max_abs_diff(expected, actual), 2e-5f)
          << "cols=" << cols << " residual=" << with_residual;
    }
  }
}

TEST(LayerNorm, Avx2MatchesScalarReference) {
  EMBEDRT_REQUIRE_AVX2();
  expect_matches_scalar(&avx2::add_layer_norm_row);
}

// The AVX-512 kernel's 16-lane code, built for AVX2, so that it runs on any AVX2 machine.
TEST(LayerNorm, Wide16OnAvx2MatchesScalarReference) {
  EMBEDRT_REQUIRE_AVX2();
  expect_matches_scalar(&wide16::add_layer_norm_row);
}

TEST(LayerNorm, Avx512MatchesScalarReference) {
  EMBEDRT_REQUIRE_AVX512();
  expect_matches_scalar(&avx512::add_layer_norm_row);
}

using RmsRowKernel = void (*)(const float* x, const float* gamma, float eps, int64_t cols,
                              float* out, const float* add);

// Distance in units in the last place between two finite floats of the same sign (0 if equal).
int64_t ulps(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  if ((ia < 0) != (ib < 0)) return a == b ? 0 : INT32_MAX;
  return std::abs(int64_t(ia) - int64_t(ib));
}

// The SIMD RMSNorm rows against the scalar row: only the order of the double sum of squares
// differs, so every output is within one ulp (with the add: of the normalized term), and in place
// over x or over add gives the same bits as out of place. Widths around both vector lengths and the
// decoders' (head_dim 128 and 256, hidden 1024 and 2560).
void expect_rms_matches_scalar(RmsRowKernel kernel) {
  for (int64_t cols : {1, 3, 8, 13, 16, 17, 31, 128, 256, 509, 1024, 2560}) {
    for (bool with_add : {false, true}) {
      const int64_t rows = 4;
      auto x = random_vector(rows * cols, 11 + cols, -4.0f, 6.0f);
      x[0] = 300.0f;  // an outlier, as decoder hidden states have
      const auto add = random_vector(rows * cols, 12 + cols, -0.01f, 0.01f);
      const auto gamma = random_vector(cols, 13, 0.5f, 1.5f);
      std::vector<float> expected(rows * cols), actual(rows * cols);
      int64_t worst = 0;
      for (int64_t r = 0; r < rows; ++r) {
        const float* a = with_add ? add.data() + r * cols : nullptr;
        scalar::rms_norm_row(x.data() + r * cols, gamma.data(), 1e-6f, cols,
                             expected.data() + r * cols, a);
        kernel(x.data() + r * cols, gamma.data(), 1e-6f, cols, actual.data() + r * cols, a);
      }
      for (int64_t i = 0; i < rows * cols; ++i) {
        if (!with_add) {
          worst = std::max(worst, ulps(expected[i], actual[i]));
          continue;
        }
        // The add can cancel the normalized term, so bound the difference by the term's ulp (and
        // the sum's rounding) rather than by the output's.
        const float bound = std::ldexp(std::fabs(expected[i]) + 2 * std::fabs(add[i]), -22);
        EXPECT_LE(std::fabs(expected[i] - actual[i]), bound) << "cols=" << cols << " i=" << i;
      }
      EXPECT_LE(worst, 1) << "cols=" << cols;
      auto in_place = x;
      for (int64_t r = 0; r < rows; ++r) {
        float* row = in_place.data() + r * cols;
        kernel(row, gamma.data(), 1e-6f, cols, row, with_add ? add.data() + r * cols : nullptr);
      }
      EXPECT_EQ(in_place, actual) << "in place, cols=" << cols;
      if (with_add) {
        auto over_add = add;
        for (int64_t r = 0; r < rows; ++r) {
          kernel(x.data() + r * cols, gamma.data(), 1e-6f, cols, over_add.data() + r * cols,
                 over_add.data() + r * cols);
        }
        EXPECT_EQ(over_add, actual) << "over add, cols=" << cols;
      }
    }
  }
}

TEST(RmsNorm, ScalarRowMatchesDefinition) {
  const std::vector<float> x{3, 4, 12}, gamma{1, 2, 0.5f};
  std::vector<float> out(3);
  scalar::rms_norm_row(x.data(), gamma.data(), 0.0f, 3, out.data(), nullptr);
  const double inv = 1.0 / std::sqrt((9.0 + 16.0 + 144.0) / 3.0);
  EXPECT_NEAR(out[0], 3 * inv, 1e-6);
  EXPECT_NEAR(out[1], 8 * inv, 1e-6);
  EXPECT_NEAR(out[2], 6 * inv, 1e-6);
}

TEST(RmsNorm, Avx2MatchesScalarRow) {
  EMBEDRT_REQUIRE_AVX2();
  expect_rms_matches_scalar(&avx2::rms_norm_row);
}

TEST(RmsNorm, Wide16OnAvx2MatchesScalarRow) {
  EMBEDRT_REQUIRE_AVX2();
  expect_rms_matches_scalar(&wide16::rms_norm_row);
}

TEST(RmsNorm, Avx512MatchesScalarRow) {
  EMBEDRT_REQUIRE_AVX512();
  expect_rms_matches_scalar(&avx512::rms_norm_row);
}

TEST(LayerNorm, InPlaceOverResidualMatchesOutOfPlace) {
  const int64_t rows = 5, cols = 40;
  const auto x = random_vector(rows * cols, 7);
  auto residual = random_vector(rows * cols, 8);
  const auto gamma = random_vector(cols, 9), beta = random_vector(cols, 10);
  std::vector<float> expected(rows * cols);
  add_layer_norm(x.data(), residual.data(), gamma.data(), beta.data(), 1e-5f, rows, cols,
                 expected.data());
  add_layer_norm(x.data(), residual.data(), gamma.data(), beta.data(), 1e-5f, rows, cols,
                 residual.data());
  EXPECT_EQ(expected, residual);
}

}  // namespace
}  // namespace embedrt::kernels
