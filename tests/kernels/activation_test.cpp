#include "kernels/cpu/activation.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace embedrt::kernels {
namespace {

using testing::max_abs_diff;
using testing::random_vector;

TEST(Activation, ScalarMatchesClosedForms) {
  std::vector<float> x{-3.0f, -1.0f, -0.25f, 0.0f, 0.5f, 2.0f};
  auto gelu = x, tanh_gelu = x, relu = x, silu = x;
  scalar::apply_activation(Activation::kGeluErf, gelu.data(), gelu.size());
  scalar::apply_activation(Activation::kGeluTanh, tanh_gelu.data(), tanh_gelu.size());
  scalar::apply_activation(Activation::kRelu, relu.data(), relu.size());
  scalar::apply_activation(Activation::kSilu, silu.data(), silu.size());
  // Values from PyTorch: F.gelu, F.gelu(approximate="tanh"), F.silu.
  EXPECT_NEAR(gelu[0], -0.0040496941f, 1e-7);
  EXPECT_NEAR(gelu[1], -0.15865526f, 1e-7);
  EXPECT_NEAR(gelu[5], 1.9544997f, 1e-6);
  EXPECT_NEAR(tanh_gelu[1], -0.15880801f, 1e-7);
  EXPECT_NEAR(tanh_gelu[4], 0.34571401f, 1e-7);
  EXPECT_EQ(relu[2], 0.0f);
  EXPECT_EQ(relu[4], 0.5f);
  EXPECT_NEAR(silu[1], -0.26894142f, 1e-7);
  EXPECT_NEAR(silu[5], 1.7615942f, 1e-6);
}

class ActivationAvx2 : public ::testing::TestWithParam<Activation> {};

TEST_P(ActivationAvx2, MatchesScalarReference) {
  EMBEDRT_REQUIRE_AVX2();
  for (size_t n : {1, 7, 8, 9, 64, 1537}) {
    auto x = random_vector(n, 42 + n, -8.0f, 8.0f);
    if (n > 8) x[3] = -100.0f, x[4] = 100.0f;  // saturated ranges
    auto expected = x, actual = x;
    scalar::apply_activation(GetParam(), expected.data(), n);
    avx2::apply_activation(GetParam(), actual.data(), n);
    EXPECT_LE(max_abs_diff(expected, actual), 2e-6f) << "n=" << n;
  }
}

INSTANTIATE_TEST_SUITE_P(All, ActivationAvx2,
                         ::testing::Values(Activation::kGeluErf, Activation::kGeluTanh,
                                           Activation::kRelu, Activation::kSilu),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace embedrt::kernels
