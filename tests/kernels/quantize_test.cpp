#include "kernels/cpu/quantize.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "test_util.h"

namespace embedrt::kernels {
namespace {

using testing::random_vector;

TEST(QuantizeRowsU8, RoundTripWithinHalfAStep) {
  const int64_t rows = 9, cols = 389;  // odd width: vector body and scalar tail
  auto x = random_vector(rows * cols, 11, -3.0f, 5.0f);
  for (int64_t c = 0; c < cols; ++c) x[2 * cols + c] = 0.25f + 0.01f * float(c);  // all positive
  for (int64_t c = 0; c < cols; ++c) x[3 * cols + c] = -1.0f - 0.01f * float(c);  // all negative
  for (int32_t qmax : {127, 255}) {
    std::vector<uint8_t> q(rows * cols);
    std::vector<float> scales(rows);
    std::vector<int32_t> zps(rows);
    quantize_rows_u8(x.data(), rows, cols, qmax, q.data(), scales.data(), zps.data());
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_GE(zps[r], 0);
      EXPECT_LE(zps[r], qmax);
      for (int64_t c = 0; c < cols; ++c) {
        ASSERT_LE(q[r * cols + c], qmax);
        const float back = float(int32_t(q[r * cols + c]) - zps[r]) * scales[r];
        ASSERT_NEAR(back, x[r * cols + c], 0.5f * scales[r] * 1.0001f)
            << "row " << r << " col " << c << " qmax " << qmax;
      }
    }
  }
}

TEST(QuantizeRowsU8, ZeroIsExactAndConstantRowsAreSafe) {
  const int64_t cols = 40;
  std::vector<float> x(3 * cols, 0.0f);
  for (int64_t c = 0; c < cols; ++c) x[cols + c] = 2.5f;  // constant positive row
  x[2 * cols + 5] = -7.0f;                                // one negative value among zeros
  std::vector<uint8_t> q(3 * cols);
  std::vector<float> scales(3);
  std::vector<int32_t> zps(3);
  quantize_rows_u8(x.data(), 3, cols, 255, q.data(), scales.data(), zps.data());
  for (int64_t c = 0; c < cols; ++c) EXPECT_EQ(int32_t(q[c]), zps[0]);  // all-zero row
  EXPECT_TRUE(std::isfinite(scales[0]));
  for (int64_t c = 0; c < cols; ++c) {
    EXPECT_FLOAT_EQ(float(int32_t(q[cols + c]) - zps[1]) * scales[1], 2.5f);
    if (c != 5) {
      EXPECT_EQ(int32_t(q[2 * cols + c]), zps[2]) << c;
    }
  }
}

TEST(QuantizeRowsU8, Avx2MatchesScalarBitForBit) {
  EMBEDRT_REQUIRE_AVX2();
  for (int64_t cols : {1, 31, 32, 384, 1536, 1541}) {
    auto x = random_vector(cols, uint32_t(cols), -4.0f, 9.0f);
    x[0] = 0.5f;  // a tie after scaling is likely somewhere; both must round it the same way
    for (int32_t qmax : {127, 255}) {
      std::vector<uint8_t> qs(cols), qv(cols);
      float ss, sv;
      int32_t zs, zv;
      scalar::quantize_row_u8(x.data(), cols, qmax, qs.data(), &ss, &zs);
      avx2::quantize_row_u8(x.data(), cols, qmax, qv.data(), &sv, &zv);
      EXPECT_EQ(ss, sv);
      EXPECT_EQ(zs, zv);
      EXPECT_EQ(qs, qv) << "cols " << cols << " qmax " << qmax;
    }
  }
}

TEST(QuantizeWeightsS8, PerChannelSymmetricRoundTrip) {
  const int64_t out = 7, in = 300;
  auto w = random_vector(out * in, 12, -0.3f, 0.3f);
  for (int64_t i = 0; i < in; ++i) w[4 * in + i] = 0.0f;  // an all-zero channel
  w[1 * in + 17] = 2.0f;                                  // a channel with an outlier
  for (int32_t qmax : {63, 127}) {
    std::vector<int8_t> q(out * in);
    std::vector<float> scales(out);
    quantize_weights_s8(w.data(), out, in, qmax, q.data(), scales.data());
    EXPECT_EQ(scales[4], 1.0f);
    EXPECT_FLOAT_EQ(scales[1], 2.0f / float(qmax));
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t i = 0; i < in; ++i) {
        ASSERT_LE(std::abs(int32_t(q[o * in + i])), qmax);
        ASSERT_NEAR(float(q[o * in + i]) * scales[o], w[o * in + i], 0.5f * scales[o] * 1.0001f);
      }
    }
  }
}

TEST(DequantizeRows, MatchesFormulaInPlaceAndAcrossIsas) {
  const int64_t rows = 3, cols = 45;
  std::vector<int32_t> acc(rows * cols), sums(cols);
  for (int64_t i = 0; i < rows * cols; ++i) acc[i] = int32_t(i * 7919 % 200001) - 100000;
  for (int64_t c = 0; c < cols; ++c) sums[c] = int32_t(c * 31) - 600;
  const auto col_scales = random_vector(cols, 13, 0.001f, 0.01f);
  const auto bias = random_vector(cols, 14);
  const std::vector<float> row_scales{0.02f, 0.5f, 1e-3f};
  const std::vector<int32_t> zps{0, 128, 255};

  std::vector<float> y(rows * cols);
  dequantize_rows(acc.data(), rows, cols, row_scales.data(), zps.data(), col_scales.data(),
                  sums.data(), bias.data(), y.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const double want =
          double(acc[r * cols + c] - zps[r] * sums[c]) * row_scales[r] * col_scales[c] + bias[c];
      EXPECT_NEAR(y[r * cols + c], want, 1e-5 * std::fabs(want) + 1e-6);
    }
  }
  // In place: the fp32 result overwrites the s32 input.
  std::vector<float> in_place(rows * cols);
  std::memcpy(in_place.data(), acc.data(), acc.size() * sizeof(int32_t));
  dequantize_rows(reinterpret_cast<const int32_t*>(in_place.data()), rows, cols, row_scales.data(),
                  zps.data(), col_scales.data(), sums.data(), bias.data(), in_place.data());
  EXPECT_EQ(in_place, y);

  if (detect_cpu_isa() >= Isa::kAvx2) {
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<float> ys(cols), yv(cols);
      scalar::dequantize_row(acc.data() + r * cols, cols, row_scales[r], zps[r], col_scales.data(),
                             sums.data(), nullptr, ys.data());
      avx2::dequantize_row(acc.data() + r * cols, cols, row_scales[r], zps[r], col_scales.data(),
                           sums.data(), nullptr, yv.data());
      EXPECT_EQ(ys, yv) << "row " << r;
    }
  }
}

TEST(FloatToBf16, RoundsToNearestEvenAndKeepsSpecials) {
  const auto bits = [](uint32_t b) { return std::bit_cast<float>(b); };
  std::vector<float> x{1.0f,
                       bits(0x3f808000u),  // tie, even below: rounds down to 0x3f80
                       bits(0x3f818000u),  // tie, odd below: rounds up to 0x3f82
                       bits(0x3f808001u),  // just above the tie: rounds up
                       -2.5f,
                       std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity(),
                       std::numeric_limits<float>::quiet_NaN(),
                       bits(0x7f800001u),  // signalling NaN must not become infinity
                       bits(0x7f7fffffu),  // largest float rounds to infinity, as IEEE says
                       0.0f,
                       -0.0f};
  const std::vector<uint16_t> want{0x3f80, 0x3f80, 0x3f82, 0x3f81, 0xc020, 0x7f80,
                                   0xff80, 0,      0,      0x7f80, 0x0000, 0x8000};
  while (x.size() < 40) x.push_back(float(x.size()) * 0.37f);  // reach the vector body
  std::vector<uint16_t> y(x.size());
  float_to_bf16(x.data(), int64_t(x.size()), y.data());
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(x[i])) {
      EXPECT_TRUE(std::isnan(std::bit_cast<float>(uint32_t(y[i]) << 16))) << i;
    } else {
      EXPECT_EQ(y[i], want[i]) << i;
    }
  }
  if (detect_cpu_isa() >= Isa::kAvx2) {
    std::vector<uint16_t> ys(x.size()), yv(x.size());
    scalar::float_to_bf16(x.data(), int64_t(x.size()), ys.data());
    avx2::float_to_bf16(x.data(), int64_t(x.size()), yv.data());
    EXPECT_EQ(ys, yv);
  }
}

TEST(FloatToHalf, RoundsToNearestEvenAndRoundTrips) {
  const auto bits = [](uint32_t b) { return std::bit_cast<float>(b); };
  std::vector<float> x{1.0f,
                       bits(0x3f801000u),  // tie, even below: stays 0x3c00
                       bits(0x3f803000u),  // tie, odd below: rounds up to 0x3c02
                       65504.0f,           // largest half
                       65520.0f,           // rounds to infinity
                       -std::numeric_limits<float>::infinity(),
                       0x1p-24f,  // smallest subnormal half
                       0x1p-25f,  // tie between 0 and the smallest subnormal: to even (0)
                       0x1.8p-24f,
                       -0.0f,
                       1e-30f,
                       std::numeric_limits<float>::quiet_NaN()};
  const std::vector<uint16_t> want{0x3c00, 0x3c00, 0x3c02, 0x7bff, 0x7c00, 0xfc00,
                                   0x0001, 0x0000, 0x0002, 0x8000, 0x0000, 0x7e00};
  const auto more = random_vector(29, 15, -3.0f, 3.0f);
  x.insert(x.end(), more.begin(), more.end());
  std::vector<uint16_t> ys(x.size());
  scalar::float_to_half(x.data(), int64_t(x.size()), ys.data());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(ys[i], want[i]) << i;
  std::vector<float> back(x.size());
  scalar::half_to_float(ys.data(), int64_t(ys.size()), back.data());
  for (size_t i = want.size(); i < x.size(); ++i) {
    EXPECT_NEAR(back[i], x[i], std::fabs(x[i]) * 0x1p-11f) << i;
  }
  EXPECT_EQ(back[6], 0x1p-24f);
  EXPECT_EQ(std::bit_cast<uint32_t>(back[9]), 0x80000000u);
  EXPECT_TRUE(std::isnan(back[11]));
  if (detect_cpu_isa() >= Isa::kAvx2) {
    std::vector<uint16_t> yv(x.size());
    avx2::float_to_half(x.data(), int64_t(x.size()), yv.data());
    EXPECT_EQ(ys, yv);
    std::vector<float> bv(x.size());
    avx2::half_to_float(ys.data(), int64_t(ys.size()), bv.data());
    for (size_t i = 0; i < x.size(); ++i) {
      if (!std::isnan(back[i])) {
        EXPECT_EQ(std::bit_cast<uint32_t>(bv[i]), std::bit_cast<uint32_t>(back[i])) << i;
      }
    }
  }
}

}  // namespace
}  // namespace embedrt::kernels
