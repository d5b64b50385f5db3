#include "kernels/cpu/matmul.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "test_util.h"

namespace embedrt::kernels {
namespace {

using testing::max_abs_diff;
using testing::random_vector;

std::vector<float> reference(const LinearSpec& spec, const std::vector<float>& x, int64_t rows,
                             const std::vector<float>& w, const float* bias,
                             const std::vector<float>& residual) {
  std::vector<float> y(rows * spec.out_features);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < spec.out_features; ++o) {
      double acc = bias ? bias[o] : 0.0;
      for (int64_t i = 0; i < spec.in_features; ++i) {
        acc += double(x[r * spec.in_features + i]) * w[o * spec.in_features + i];
      }
      float v = static_cast<float>(acc);
      scalar::apply_activation(spec.activation, &v, 1);
      if (spec.add_residual) v += residual[r * spec.out_features + o];
      y[r * spec.out_features + o] = v;
    }
  }
  return y;
}

struct MatmulCase {
  int64_t rows, in, out;
  Activation act;
  bool bias, residual;
};

class LinearTest : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(LinearTest, MatchesDoublePrecisionReference) {
  const auto& c = GetParam();
  const LinearSpec spec{c.in, c.out, c.act, c.residual};
  const auto w = random_vector(c.in * c.out, 1, -0.2f, 0.2f);
  const auto b = random_vector(c.out, 2);
  const auto x = random_vector(c.rows * c.in, 3, -2.0f, 2.0f);
  const auto residual = random_vector(c.rows * c.out, 4);
  const Linear linear(spec, w.data(), c.bias ? b.data() : nullptr);
  std::vector<float> y(c.rows * c.out, NAN);
  linear.forward(x.data(), c.rows, y.data(), residual.data());
  const auto expected = reference(spec, x, c.rows, w, c.bias ? b.data() : nullptr, residual);
  // fp32 accumulation over `in` terms of size ~0.4 each.
  EXPECT_LE(max_abs_diff(expected, y), 1e-6f * c.in + 1e-5f) << linear.implementation(c.rows);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, LinearTest,
    ::testing::Values(MatmulCase{1, 384, 1152, Activation::kNone, true, false},
                      MatmulCase{128, 384, 1536, Activation::kGeluErf, true, false},
                      MatmulCase{37, 1536, 384, Activation::kNone, true, true},
                      MatmulCase{5, 33, 17, Activation::kGeluTanh, false, true},
                      MatmulCase{3, 7, 9, Activation::kRelu, true, false},
                      MatmulCase{300, 64, 48, Activation::kSilu, true, true}));

// A row's result must not depend on how many rows share the call, where it sits, or the number
// of threads; the encoder's batch invariance rests on this.
TEST(Linear, RowsAreBitIdenticalAcrossRowCountsAndThreads) {
  const int64_t in = 384, out = 1536;
  const LinearSpec spec{in, out, Activation::kGeluErf, false};
  const auto w = random_vector(in * out, 5, -0.1f, 0.1f);
  const auto b = random_vector(out, 6);
  const Linear linear(spec, w.data(), b.data());
  const int64_t max_rows = 1024;
  const auto x = random_vector(max_rows * in, 7);
  const int saved_threads = omp_get_max_threads();

  std::vector<float> single(out);
  const int64_t probe = 3;  // this row is checked in every configuration
  omp_set_num_threads(1);
  linear.forward(x.data() + probe * in, 1, single.data());
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    for (int64_t rows : {4, 7, 16, 33, 128, 257, 1024}) {
      std::vector<float> y(rows * out);
      linear.forward(x.data(), rows, y.data());
      EXPECT_TRUE(std::equal(single.begin(), single.end(), y.begin() + probe * out))
          << "rows=" << rows << " threads=" << threads;
      // The same row at a different position: shift the input by one row.
      std::vector<float> shifted(rows * out);
      linear.forward(x.data() + in, rows, shifted.data());
      EXPECT_TRUE(std::equal(single.begin(), single.end(), shifted.begin() + (probe - 1) * out))
          << "shifted rows=" << rows << " threads=" << threads;
    }
  }
  omp_set_num_threads(saved_threads);
}

}  // namespace
}  // namespace embedrt::kernels
