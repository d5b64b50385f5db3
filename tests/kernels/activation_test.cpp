#include "kernels/cpu/activation.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/wide_simd_avx2.h"
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

using Kernel = void (*)(Activation act, float* x, int64_t n);

// Lengths below, at and around both vector lengths (8 and 16 lanes); inputs that saturate erf and
// tanh, underflow exp (silu of large x) and clamp it (silu of large negative x), also in the tail.
void expect_matches_scalar(Kernel kernel, Activation act) {
  for (size_t n : {1, 7, 8, 9, 13, 15, 16, 17, 31, 64, 509, 1537}) {
    auto x = random_vector(n, 42 + n, -8.0f, 8.0f);
    if (n > 8) x[3] = -100.0f, x[4] = 100.0f;  // saturated ranges
    if (n > 16) {
      x[5] = 1e-30f;
      x[6] = -88.7f;
      x[7] = 88.7f;
      x[n - 1] = -1e4f;
    }
    auto expected = x, actual = x;
    scalar::apply_activation(act, expected.data(), n);
    kernel(act, actual.data(), n);
    EXPECT_LE(max_abs_diff(expected, actual), 2e-6f) << "n=" << n;
  }
}

const auto kActivations = ::testing::Values(Activation::kGeluErf, Activation::kGeluTanh,
                                            Activation::kRelu, Activation::kSilu);
const auto kActivationName = [](const auto& info) { return std::string(to_string(info.param)); };

class ActivationAvx2 : public ::testing::TestWithParam<Activation> {};

TEST_P(ActivationAvx2, MatchesScalarReference) {
  EMBEDRT_REQUIRE_AVX2();
  expect_matches_scalar(&avx2::apply_activation, GetParam());
}

INSTANTIATE_TEST_SUITE_P(All, ActivationAvx2, kActivations, kActivationName);

// The AVX-512 kernel's 16-lane code, built for AVX2, so that it runs on any AVX2 machine.
class ActivationWide16OnAvx2 : public ::testing::TestWithParam<Activation> {};

TEST_P(ActivationWide16OnAvx2, MatchesScalarReference) {
  EMBEDRT_REQUIRE_AVX2();
  expect_matches_scalar(&wide16::apply_activation, GetParam());
}

INSTANTIATE_TEST_SUITE_P(All, ActivationWide16OnAvx2, kActivations, kActivationName);

class ActivationAvx512 : public ::testing::TestWithParam<Activation> {};

TEST_P(ActivationAvx512, MatchesScalarReference) {
  EMBEDRT_REQUIRE_AVX512();
  expect_matches_scalar(&avx512::apply_activation, GetParam());
}

INSTANTIATE_TEST_SUITE_P(All, ActivationAvx512, kActivations, kActivationName);

}  // namespace
}  // namespace embedrt::kernels
