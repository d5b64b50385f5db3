#include "kernels/cpu/attention.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace embedrt::kernels {
namespace {

using testing::max_abs_diff;
using testing::random_vector;

// Naive reference over the whole packed batch, straight from the definition.
std::vector<float> reference(const std::vector<float>& qkv, const std::vector<int32_t>& offsets,
                             int64_t heads, int64_t dim) {
  const int64_t hidden = heads * dim;
  std::vector<float> out(offsets.back() * hidden);
  for (size_t s = 0; s + 1 < offsets.size(); ++s) {
    const int64_t len = offsets[s + 1] - offsets[s];
    for (int64_t h = 0; h < heads; ++h) {
      const float* q = qkv.data() + offsets[s] * 3 * hidden + h * dim;
      scalar::attention_head(q, q + hidden, q + 2 * hidden, 3 * hidden, len, dim,
                             out.data() + offsets[s] * hidden + h * dim, hidden, nullptr);
    }
  }
  return out;
}

TEST(Attention, ScalarHeadMatchesHandComputedCase) {
  // One head, two tokens, head_dim 1: q = k = (1, 0), v = (2, 4).
  const std::vector<float> qkv{1, 1, 2, 0, 0, 4};
  std::vector<float> out(2);
  scalar::attention_head(qkv.data(), qkv.data() + 1, qkv.data() + 2, 3, 2, 1, out.data(), 1,
                         nullptr);
  const double p = std::exp(1.0) / (std::exp(1.0) + 1.0);
  EXPECT_NEAR(out[0], 2 * p + 4 * (1 - p), 1e-6);
  EXPECT_NEAR(out[1], 3.0, 1e-6);  // all scores 0 -> plain average
}

struct AttentionCase {
  std::vector<int32_t> offsets;
  int64_t heads;
  int64_t dim;
};

class AttentionAvx2 : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(AttentionAvx2, PackedBatchMatchesScalarReference) {
  EMBEDRT_REQUIRE_AVX2();
  const auto& c = GetParam();
  const int64_t hidden = c.heads * c.dim;
  const auto qkv = random_vector(c.offsets.back() * 3 * hidden, 5, -2.0f, 2.0f);
  const auto expected = reference(qkv, c.offsets, c.heads, c.dim);

  int64_t max_len = 0;
  for (size_t s = 0; s + 1 < c.offsets.size(); ++s) {
    max_len = std::max<int64_t>(max_len, c.offsets[s + 1] - c.offsets[s]);
  }
  std::vector<float> scratch(attention_scratch_per_thread(max_len, c.dim) * 2);
  std::vector<float> actual(expected.size(), NAN);
  AttentionArgs args{qkv.data(), c.offsets.data(), int64_t(c.offsets.size()) - 1, c.heads,
                     c.dim,      actual.data()};
  attention(args, scratch.data(), scratch.size());
  EXPECT_LE(max_abs_diff(expected, actual), 2e-6f);
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionAvx2,
                         ::testing::Values(AttentionCase{{0, 1}, 1, 8},
                                           AttentionCase{{0, 5, 12, 45}, 3, 32},
                                           AttentionCase{{0, 128, 131}, 12, 32},
                                           AttentionCase{{0, 9, 9, 40}, 2, 13},
                                           AttentionCase{{0, 70}, 4, 64}));

TEST(Attention, SequenceResultIgnoresTheRestOfTheBatch) {
  const int64_t heads = 4, dim = 16, hidden = heads * dim;
  const auto alone = random_vector(37 * 3 * hidden, 21);
  const auto other = random_vector(50 * 3 * hidden, 22);
  // The same 37-token sequence alone and as the second sequence after 50 other tokens.
  std::vector<float> batch(other);
  batch.insert(batch.end(), alone.begin(), alone.end());
  const std::vector<int32_t> alone_offsets{0, 37}, batch_offsets{0, 50, 87};
  std::vector<float> scratch(attention_scratch_per_thread(50, dim) * 4);
  std::vector<float> out_alone(37 * hidden), out_batch(87 * hidden);
  attention({alone.data(), alone_offsets.data(), 1, heads, dim, out_alone.data()}, scratch.data(),
            scratch.size());
  attention({batch.data(), batch_offsets.data(), 2, heads, dim, out_batch.data()}, scratch.data(),
            scratch.size());
  EXPECT_TRUE(std::equal(out_alone.begin(), out_alone.end(), out_batch.begin() + 50 * hidden));
}

}  // namespace
}  // namespace embedrt::kernels
