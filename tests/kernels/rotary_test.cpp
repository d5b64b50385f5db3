#include "kernels/cpu/rotary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "test_util.h"

namespace embedrt::kernels {
namespace {

using testing::random_vector;

// The rotation spelled out in double precision for one head row at position p.
std::vector<double> rotate(const float* x, int64_t head_dim, int64_t dim, int64_t p, double base,
                           bool interleaved) {
  std::vector<double> out(x, x + head_dim);
  for (int64_t k = 0; k < dim / 2; ++k) {
    const double angle = p / std::pow(base, double(2 * k) / double(dim));
    const int64_t i1 = interleaved ? 2 * k : k, i2 = interleaved ? 2 * k + 1 : k + dim / 2;
    out[i1] = x[i1] * std::cos(angle) - x[i2] * std::sin(angle);
    out[i2] = x[i2] * std::cos(angle) + x[i1] * std::sin(angle);
  }
  return out;
}

TEST(Rotary, RotatesQueriesAndKeysPerSequencePosition) {
  const int64_t heads = 3, head_dim = 16, hidden = heads * head_dim, stride = 3 * hidden;
  const std::vector<int32_t> offsets{0, 5, 5, 19};
  for (const bool interleaved : {false, true}) {
    for (const int64_t dim : {int64_t{16}, int64_t{8}}) {  // full and partial rotary
      const double base = 10000.0;
      const auto input = random_vector(offsets.back() * stride, 3, -2.0f, 2.0f);
      auto x = input;
      std::vector<float> cos(14 * dim / 2), sin(14 * dim / 2);
      rotary_tables(14, dim, base, cos.data(), sin.data());
      RotaryArgs args;
      args.x = x.data();
      args.row_stride = stride;
      args.second_offset = hidden;
      args.offsets = offsets.data();
      args.num_seqs = 3;
      args.num_heads = heads;
      args.head_dim = head_dim;
      args.dim = dim;
      args.interleaved = interleaved;
      args.cos = cos.data();
      args.sin = sin.data();
      apply_rotary(args);
      for (int64_t s = 0; s < 3; ++s) {
        for (int64_t t = offsets[s]; t < offsets[s + 1]; ++t) {
          for (int64_t part = 0; part < 3; ++part) {
            for (int64_t h = 0; h < heads; ++h) {
              const int64_t at = t * stride + part * hidden + h * head_dim;
              // Values stay as they are; queries and keys rotate.
              const auto expected =
                  part == 2
                      ? std::vector<double>(input.begin() + at, input.begin() + at + head_dim)
                      : rotate(input.data() + at, head_dim, dim, t - offsets[s], base, interleaved);
              for (int64_t c = 0; c < head_dim; ++c) {
                ASSERT_NEAR(x[at + c], expected[c], 2e-5)
                    << "interleaved " << interleaved << " dim " << dim << " token " << t << " part "
                    << part << " head " << h << " column " << c;
              }
            }
          }
        }
      }
    }
  }
}

TEST(Rotary, TablesDivideTheFrequenciesByTheNtkDivisor) {
  // GTE's fixed NTK scaling: base * factor, every frequency divided by factor^(2 / dim).
  const int64_t dim = 8, positions = 40, half = dim / 2;
  const double factor = 2.0, base = 160000.0 * factor, divisor = std::pow(factor, 2.0 / dim);
  std::vector<float> cos(positions * half), sin(positions * half);
  rotary_tables(positions, dim, base, cos.data(), sin.data(), divisor);
  for (int64_t p = 0; p < positions; ++p) {
    for (int64_t k = 0; k < half; ++k) {
      const double angle = p / std::pow(base, double(2 * k) / dim) / divisor;
      EXPECT_NEAR(cos[p * half + k], std::cos(angle), 2e-5) << p << " " << k;
      EXPECT_NEAR(sin[p * half + k], std::sin(angle), 2e-5) << p << " " << k;
    }
  }
}

TEST(Rotary, GatedActivationMultipliesActivatedHalfByLinearHalf) {
  const int64_t rows = 5, inner = 7;
  const auto x = random_vector(rows * 2 * inner, 4, -3.0f, 3.0f);
  std::vector<float> out(rows * inner);
  gated_activation(Activation::kSilu, x.data(), rows, inner, out.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < inner; ++c) {
      const double g = x[r * 2 * inner + c], u = x[r * 2 * inner + inner + c];
      EXPECT_NEAR(out[r * inner + c], g / (1 + std::exp(-g)) * u, 1e-5);
    }
  }
}

}  // namespace
}  // namespace embedrt::kernels
