#include "kernels/cpu/matmul.h"

#include <gtest/gtest.h>
#include <omp.h>
#include <algorithm>

#include <cmath>
#include <cstring>
#include <string>

#include "embedrt/error.h"
#include "kernels/cpu/quantize.h"
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

// Skips the test when this CPU cannot run `precision`, naming the reason.
#define EMBEDRT_REQUIRE_PRECISION(precision)                                    \
  do {                                                                          \
    std::string why;                                                            \
    if (resolve_precision(precision, &why) != (precision)) GTEST_SKIP() << why; \
  } while (0)

// The largest error quantization can cause in x W^T before the activation, computed from the
// ranges Linear quantizes with (8-bit activations per row; weights per channel, 7 bits assumed,
// which covers the 8 of VNNI CPUs): |dx| <= sx/2, |dw| <= sw/2 for every term.
std::vector<double> int8_error_bounds(const std::vector<float>& x, int64_t rows, int64_t in,
                                      const std::vector<float>& w, int64_t out) {
  std::vector<double> bound(rows * out);
  std::vector<double> sw(out);
  for (int64_t o = 0; o < out; ++o) {
    double peak = 0;
    for (int64_t i = 0; i < in; ++i) peak = std::max(peak, std::fabs(double(w[o * in + i])));
    sw[o] = peak / 63;
  }
  for (int64_t r = 0; r < rows; ++r) {
    double lo = 0, hi = 0;
    for (int64_t i = 0; i < in; ++i) {
      lo = std::min(lo, double(x[r * in + i]));
      hi = std::max(hi, double(x[r * in + i]));
    }
    const double sx = (hi - lo) / 127;  // 7-bit activations are the coarser of the two options
    for (int64_t o = 0; o < out; ++o) {
      double b = 0;
      for (int64_t i = 0; i < in; ++i) {
        b += std::fabs(double(w[o * in + i])) * sx / 2 +
             std::fabs(double(x[r * in + i])) * sw[o] / 2 + sx * sw[o] / 4;
      }
      bound[r * out + o] = b;
    }
  }
  return bound;
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
  const auto x = random_vector((max_rows + 1) * in, 7);  // + 1: the shifted calls start a row in
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

class LinearInt8Test : public ::testing::TestWithParam<MatmulCase> {};

// Pre-activation results must lie within the quantization error bound of the exact product; the
// activation (1-Lipschitz for ReLU, nearly so for the GELUs and SiLU) and the residual add keep
// that up to a small factor.
TEST_P(LinearInt8Test, WithinQuantizationErrorOfDoublePrecisionReference) {
  EMBEDRT_REQUIRE_PRECISION(Precision::kInt8);
  const auto& c = GetParam();
  const LinearSpec spec{c.in, c.out, c.act, c.residual, Precision::kInt8};
  const auto w = random_vector(c.in * c.out, 1, -0.2f, 0.2f);
  const auto b = random_vector(c.out, 2);
  const auto x = random_vector(c.rows * c.in, 3, -2.0f, 3.0f);
  const auto residual = random_vector(c.rows * c.out, 4);
  const Linear linear(spec, w.data(), c.bias ? b.data() : nullptr);
  EXPECT_EQ(linear.spec().precision, Precision::kInt8);
  std::vector<float> y(c.rows * c.out, NAN);
  linear.forward(x.data(), c.rows, y.data(), residual.data());
  const auto expected = reference(spec, x, c.rows, w, c.bias ? b.data() : nullptr, residual);
  const auto bounds = int8_error_bounds(x, c.rows, c.in, w, c.out);
  double worst_ratio = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double err = std::fabs(double(y[i]) - expected[i]);
    worst_ratio = std::max(worst_ratio, err / (1.2 * bounds[i] + 1e-4));
    ASSERT_LE(err, 1.2 * bounds[i] + 1e-4)
        << "element " << i << " " << linear.implementation(c.rows);
  }
  RecordProperty("worst_error_over_bound", std::to_string(worst_ratio));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, LinearInt8Test,
    ::testing::Values(MatmulCase{1, 384, 1152, Activation::kNone, true, false},
                      MatmulCase{128, 384, 1536, Activation::kGeluErf, true, false},
                      MatmulCase{37, 1536, 384, Activation::kNone, true, true},
                      MatmulCase{5, 33, 17, Activation::kGeluTanh, false, true},
                      MatmulCase{300, 64, 48, Activation::kSilu, true, true}));

// Activations at the top of the u8 range against weights at the ends of the s8 range: without
// VNNI, oneDNN adds pairs of u8*s8 products in saturating int16 (vpmaddubsw), which clips here
// unless the ranges are narrowed. Every value here quantizes exactly (the ends of both ranges),
// so any clipping shows up as a gross error.
TEST(LinearInt8, LargeActivationsDoNotSaturate) {
  EMBEDRT_REQUIRE_PRECISION(Precision::kInt8);
  const int64_t in = 1536, out = 64, rows = 4;
  std::vector<float> w(out * in), x(rows * in);
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t i = 0; i < in; ++i)
      w[o * in + i] = (o % 2 ? -1.0f : 1.0f) * (i % 3 ? 1.0f : -1.0f);
  }
  for (int64_t i = 0; i < rows * in; ++i) x[i] = 1000.0f;
  const Linear linear({in, out, Activation::kNone, false, Precision::kInt8}, w.data(), nullptr);
  std::vector<float> y(rows * out);
  linear.forward(x.data(), rows, y.data());
  const auto expected =
      reference({in, out, Activation::kNone, false}, x, rows, w, nullptr, std::vector<float>());
  for (size_t i = 0; i < y.size(); ++i) {
    EXPECT_NEAR(y[i], expected[i], 1e-4 * std::fabs(expected[i])) << "element " << i;
  }
}

// Each row is quantized on its own and the sums are exact integers, so a row's bits must not
// depend on the row count, its position, the thread count or the batch_invariant flag.
TEST(LinearInt8, RowsAreBitIdenticalAcrossRowCountsAndThreads) {
  EMBEDRT_REQUIRE_PRECISION(Precision::kInt8);
  const int64_t in = 384, out = 1536;
  const auto w = random_vector(in * out, 5, -0.1f, 0.1f);
  const auto b = random_vector(out, 6);
  const Linear linear({in, out, Activation::kGeluErf, false, Precision::kInt8}, w.data(), b.data());
  const auto x = random_vector(1024 * in, 7);
  const int saved_threads = omp_get_max_threads();
  std::vector<float> single(out);
  const int64_t probe = 3;
  omp_set_num_threads(1);
  linear.forward(x.data() + probe * in, 1, single.data());
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    for (int64_t rows : {4, 7, 33, 257, 1024}) {
      for (bool invariant : {true, false}) {
        std::vector<float> y(rows * out);
        linear.forward(x.data(), rows, y.data(), nullptr, invariant);
        EXPECT_TRUE(std::equal(single.begin(), single.end(), y.begin() + probe * out))
            << "rows=" << rows << " threads=" << threads << " invariant=" << invariant;
      }
    }
  }
  omp_set_num_threads(saved_threads);
}

TEST(LinearInt8, KeepsOnlyNarrowWeights) {
  EMBEDRT_REQUIRE_PRECISION(Precision::kInt8);
  const int64_t in = 384, out = 1536;
  const auto w = random_vector(in * out, 8);
  const auto b = random_vector(out, 9);
  const Linear f32({in, out, Activation::kNone, false}, w.data(), b.data());
  const Linear int8({in, out, Activation::kNone, false, Precision::kInt8}, w.data(), b.data());
  EXPECT_GE(f32.weight_bytes(), size_t(in * out) * 4);
  // One byte per weight plus three floats per output channel (scale, column sum, bias).
  EXPECT_LE(int8.weight_bytes(), size_t(in * out) + 16 * size_t(out) + 4096);
}

// bf16 rounds inputs and weights to 8 significant bits; accumulation is fp32.
TEST(LinearBf16, MatchesDoublePrecisionReference) {
  EMBEDRT_REQUIRE_PRECISION(Precision::kBF16);
  for (const MatmulCase& c : {MatmulCase{128, 384, 1536, Activation::kGeluErf, true, false},
                              MatmulCase{37, 1536, 384, Activation::kNone, true, true},
                              MatmulCase{5, 33, 17, Activation::kGeluTanh, false, true}}) {
    const LinearSpec spec{c.in, c.out, c.act, c.residual, Precision::kBF16};
    const auto w = random_vector(c.in * c.out, 1, -0.2f, 0.2f);
    const auto b = random_vector(c.out, 2);
    const auto x = random_vector(c.rows * c.in, 3, -2.0f, 2.0f);
    const auto residual = random_vector(c.rows * c.out, 4);
    const Linear linear(spec, w.data(), c.bias ? b.data() : nullptr);
    std::vector<float> y(c.rows * c.out, NAN);
    linear.forward(x.data(), c.rows, y.data(), residual.data());
    const auto expected = reference(spec, x, c.rows, w, c.bias ? b.data() : nullptr, residual);
    // Each term's relative error is at most 2^-8 (two roundings of 2^-9); terms are <= 0.4.
    EXPECT_LE(max_abs_diff(expected, y), 0.4f * c.in * 0x1p-8f + 1e-4f)
        << linear.implementation(c.rows);
    // The same rows one at a time: bf16 is expected to keep batch invariance too.
    std::vector<float> one(c.out);
    linear.forward(x.data() + (c.rows - 1) * c.in, 1, one.data(),
                   residual.data() + (c.rows - 1) * c.out);
    EXPECT_TRUE(std::equal(one.begin(), one.end(), y.begin() + (c.rows - 1) * c.out))
        << "last row of " << c.rows;
  }
}

// Qwen3-0.6B's FFN down projection on one thread: there oneDNN's AMX bf16 kernel reproduces its
// rows only in quanta of 48, so the load-time row-blocking probe runs four such quanta (192
// rows). The probe buffers once held fewer rows and oneDNN wrote past them (heap corruption at
// load); this keeps the shape in the suite, where the sanitizer builds see any overrun.
TEST(LinearBf16, WideReductionOnOneThreadKeepsRowsIdentical) {
  EMBEDRT_REQUIRE_PRECISION(Precision::kBF16);
  const int saved_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const int64_t in = 3072, out = 1024, rows = 200;
  const LinearSpec spec{in, out, Activation::kNone, true, Precision::kBF16};
  const auto w = random_vector(in * out, 11, -0.05f, 0.05f);
  const auto x = random_vector(rows * in, 12, -2.0f, 2.0f);
  const auto residual = random_vector(rows * out, 13);
  const Linear linear(spec, w.data(), nullptr);
  std::vector<float> all(rows * out), one(out);
  linear.forward(x.data(), rows, all.data(), residual.data());
  for (int64_t r : {int64_t{0}, int64_t{47}, int64_t{48}, rows - 1}) {
    linear.forward(x.data() + r * in, 1, one.data(), residual.data() + r * out);
    EXPECT_TRUE(std::equal(one.begin(), one.end(), all.begin() + r * out)) << "row " << r;
  }
  omp_set_num_threads(saved_threads);
}

// A caller's chunk (LinearSpec::typical_rows) is run as one call only where the load-time probe
// found it gives every row the quantum's bits. MPNet's FFN down projection (k = 3,072) with two
// chunk sizes: on a Xeon with AMX and oneDNN 2.6, 336 rows reproduce and 256 do not, so both the
// accepted and the rejected path run; either way every row must keep its one-row bits, in calls
// of the chunk, of more rows and of fewer.
TEST(LinearBf16, TypicalRowsKeepRowsIdentical) {
  EMBEDRT_REQUIRE_PRECISION(Precision::kBF16);
  const int64_t in = 3072, out = 768;
  const auto w = random_vector(in * out, 21, -0.05f, 0.05f);
  const auto b = random_vector(out, 22);
  const int64_t max_rows = 2 * 336 + 7;
  const auto x = random_vector(max_rows * in, 23, -2.0f, 2.0f);
  const auto residual = random_vector(max_rows * out, 24);
  for (int64_t typical : {256, 336}) {
    LinearSpec spec{in, out, Activation::kNone, true, Precision::kBF16};
    spec.typical_rows = typical;
    const Linear linear(spec, w.data(), b.data());
    const auto sizes = linear.row_blocking().call_rows;
    ASSERT_FALSE(sizes.empty());
    EXPECT_TRUE(std::is_sorted(sizes.begin(), sizes.end()));
    EXPECT_LE(sizes.back(), std::max<int64_t>(typical, 128));
    const bool taken = std::find(sizes.begin(), sizes.end(), typical) != sizes.end();
    for (int64_t rows : {typical, typical - 3, 2 * typical + 7}) {
      std::vector<float> all(rows * out), one(out);
      linear.forward(x.data(), rows, all.data(), residual.data());
      for (int64_t r : {int64_t{0}, int64_t{1}, typical / 2, typical - 4, rows - 1}) {
        linear.forward(x.data() + r * in, 1, one.data(), residual.data() + r * out);
        EXPECT_TRUE(std::equal(one.begin(), one.end(), all.begin() + r * out))
            << "typical " << typical << (taken ? " (one call)" : " (split)") << ", rows " << rows
            << ", row " << r;
      }
    }
  }
}

// Weights stored in bf16 or half pack to the bits their fp32 values pack to, in every precision
// (so the 16-bit load path changes no result). Includes half subnormals, -0 and the largest half.
TEST(Linear, SixteenBitWeightsGiveTheBitsOfTheirFp32Values) {
  const int64_t in = 200, out = 72;
  const auto values = random_vector(in * out, 11, -0.3f, 0.3f);
  const auto b = random_vector(out, 12);
  const auto x = random_vector(37 * in, 13, -2.0f, 2.0f);
  const auto residual = random_vector(37 * out, 14);
  for (WeightType type : {WeightType::kBF16, WeightType::kF16}) {
    std::vector<uint16_t> bits(values.size());
    (type == WeightType::kBF16 ? float_to_bf16 : float_to_half)(values.data(), in * out,
                                                                bits.data());
    if (type == WeightType::kF16) {
      const uint16_t special[] = {0x0001, 0x03ff, 0x8000, 0x7bff, 0xfbff};
      for (size_t k = 0; k < std::size(special); ++k) bits[k * 1001] = special[k];
    }
    std::vector<float> widened(bits.size());
    (type == WeightType::kBF16 ? bf16_to_float : half_to_float)(bits.data(), in * out,
                                                                widened.data());
    for (Precision p : {Precision::kF32, Precision::kBF16, Precision::kInt8}) {
      if (resolve_precision(p, nullptr) != p) continue;
      const LinearSpec spec{in, out, Activation::kGeluErf, true, p};
      const Linear from_float(spec, widened.data(), b.data());
      const Linear from_bits(spec, WeightView{type, bits.data()}, b.data());
      EXPECT_EQ(from_bits.weight_bytes(), from_float.weight_bytes());
      for (int64_t rows : {1, 7, 37}) {
        std::vector<float> want(rows * out), got(rows * out, NAN);
        from_float.forward(x.data(), rows, want.data(), residual.data());
        from_bits.forward(x.data(), rows, got.data(), residual.data());
        EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)))
            << (type == WeightType::kBF16 ? "bf16" : "f16") << " weights, " << to_string(p) << ", "
            << rows << " rows";
      }
    }
  }
}

TEST(Precision, FallbackNamesTheReason) {
  std::string why = "stale";
  EXPECT_EQ(resolve_precision(Precision::kF32, &why), Precision::kF32);
  EXPECT_TRUE(why.empty());
  for (Precision p : {Precision::kBF16, Precision::kInt8}) {
    const Precision got = resolve_precision(p, &why);
    if (got == p) {
      EXPECT_TRUE(why.empty()) << why;
    } else {
      EXPECT_EQ(got, Precision::kF32);
      EXPECT_NE(why.find(to_string(p)), std::string::npos) << why;
      EXPECT_NE(why.find("fp32"), std::string::npos) << why;
      // A Linear cannot be asked for what the CPU cannot run.
      const std::vector<float> w(16, 1.0f);
      EXPECT_THROW(Linear({4, 4, Activation::kNone, false, p}, w.data(), nullptr), Error);
    }
  }
  EXPECT_EQ(to_string(Precision::kF32), "fp32");
  EXPECT_EQ(to_string(Precision::kBF16), "bf16");
  EXPECT_EQ(to_string(Precision::kInt8), "int8");
}

}  // namespace
}  // namespace embedrt::kernels
