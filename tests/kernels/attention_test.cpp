#include "kernels/cpu/attention.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <tuple>

#include "kernels/cpu/attention_amx.h"
#include "kernels/wide_simd_avx2.h"
#include "test_util.h"

namespace embedrt::kernels {
namespace {

using testing::max_abs_diff;
using testing::random_vector;

using HeadKernel = void (*)(const float* q, const float* k, const float* v, int64_t stride,
                            int64_t len, int64_t head_dim, float* out, int64_t out_stride,
                            float* scratch, const ScoreMods& mods);

// Optional score changes for run_heads: a relative bias table per head, a window, the causal
// mask and a score scale other than 1 / sqrt(head_dim).
struct Mods {
  std::vector<float> bias;  // [heads][2 * span - 1], empty: none
  int64_t span = 0;
  int64_t window = 0;
  bool causal = false;
  float scale = 0.0f;

  ScoreMods for_head(int64_t h) const {
    ScoreMods m;
    if (!bias.empty()) {
      m.relative_bias = bias.data() + h * (2 * span - 1);
      m.bias_span = span;
    }
    m.window = window;
    m.causal = causal;
    m.scale = scale;
    return m;
  }
};

// Runs `head` over every (sequence, head) of a packed batch, one call at a time, with scratch of
// attention_scratch_per_thread() floats aligned as attention() aligns it. Guard floats after the
// scratch catch a kernel that lays out more than the size function provides for.
std::vector<float> run_heads(HeadKernel head, const std::vector<float>& qkv,
                             const std::vector<int32_t>& offsets, int64_t heads, int64_t dim,
                             const Mods& mods = {}) {
  const int64_t hidden = heads * dim;
  int64_t max_len = 0;
  for (size_t s = 0; s + 1 < offsets.size(); ++s) {
    max_len = std::max<int64_t>(max_len, offsets[s + 1] - offsets[s]);
  }
  const size_t per_thread = attention_scratch_per_thread(max_len, dim);
  constexpr size_t kGuard = 64;
  std::vector<float> scratch(per_thread + kGuard, NAN);
  float* aligned = scratch.data();
  aligned += (16 - (reinterpret_cast<uintptr_t>(aligned) / sizeof(float)) % 16) % 16;
  std::vector<float> out(offsets.back() * hidden, NAN);
  for (size_t s = 0; s + 1 < offsets.size(); ++s) {
    const int64_t len = offsets[s + 1] - offsets[s];
    if (len == 0) continue;
    for (int64_t h = 0; h < heads; ++h) {
      const float* q = qkv.data() + offsets[s] * 3 * hidden + h * dim;
      head(q, q + hidden, q + 2 * hidden, 3 * hidden, len, dim,
           out.data() + offsets[s] * hidden + h * dim, hidden, aligned, mods.for_head(h));
    }
  }
  for (size_t i = per_thread; i < scratch.size(); ++i) {
    EXPECT_TRUE(std::isnan(scratch[i])) << "scratch overrun at float " << i;
  }
  return out;
}

// Naive reference over the whole packed batch, straight from the definition.
std::vector<float> reference(const std::vector<float>& qkv, const std::vector<int32_t>& offsets,
                             int64_t heads, int64_t dim, const Mods& mods = {}) {
  return run_heads(&scalar::attention_head, qkv, offsets, heads, dim, mods);
}

// The definition with the score changes spelled out as a full [len, len] additive mask per head
// (bias, or -inf outside the window), independent of the kernels' key ranges.
std::vector<float> masked_reference(const std::vector<float>& qkv,
                                    const std::vector<int32_t>& offsets, int64_t heads, int64_t dim,
                                    const Mods& mods) {
  const int64_t hidden = heads * dim, stride = 3 * hidden;
  std::vector<float> out(offsets.back() * hidden);
  for (size_t s = 0; s + 1 < offsets.size(); ++s) {
    const int64_t begin = offsets[s], len = offsets[s + 1] - begin;
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < len; ++i) {
        std::vector<double> p(len);
        double max = -INFINITY, sum = 0;
        for (int64_t j = 0; j < len; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < dim; ++c) {
            dot += double(qkv[(begin + i) * stride + h * dim + c]) *
                   qkv[(begin + j) * stride + hidden + h * dim + c];
          }
          double mask = 0;
          if (!mods.bias.empty())
            mask += mods.bias[h * (2 * mods.span - 1) + j - i + mods.span - 1];
          if (mods.window > 0 && std::abs(i - j) > mods.window) mask = -INFINITY;
          if (mods.causal && j > i) mask = -INFINITY;
          p[j] = (mods.scale > 0 ? dot * mods.scale : dot / std::sqrt(double(dim))) + mask;
          max = std::max(max, p[j]);
        }
        for (int64_t j = 0; j < len; ++j) sum += (p[j] = std::exp(p[j] - max));
        for (int64_t c = 0; c < dim; ++c) {
          double acc = 0;
          for (int64_t j = 0; j < len; ++j)
            acc += p[j] * qkv[(begin + j) * stride + 2 * hidden + h * dim + c];
          out[(begin + i) * hidden + h * dim + c] = float(acc / sum);
        }
      }
    }
  }
  return out;
}

// Relative-bias and window variants for a shape: bias alone, windows narrower and wider than a
// query block and a key panel, and both together.
std::vector<Mods> mod_variants(const std::vector<int32_t>& offsets, int64_t heads) {
  int64_t max_len = 1;
  for (size_t s = 0; s + 1 < offsets.size(); ++s) {
    max_len = std::max<int64_t>(max_len, offsets[s + 1] - offsets[s]);
  }
  const int64_t span = max_len + 3;  // a table longer than needed, as the encoder may pass
  const auto bias = random_vector(heads * (2 * span - 1), 77, -3.0f, 3.0f);
  return {Mods{bias, span, 0},
          Mods{{}, 0, 1},
          Mods{{}, 0, 5},
          Mods{{}, 0, 20},
          Mods{bias, span, 9},
          Mods{{}, 0, 0, true},
          Mods{{}, 0, 5, true},
          Mods{bias, span, 0, true, 0.1f},
          Mods{{}, 0, 0, false, 0.07f}};
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

void PrintTo(const AttentionCase& c, std::ostream* os) {
  *os << "offsets {";
  for (size_t i = 0; i < c.offsets.size(); ++i) *os << (i ? ", " : "") << c.offsets[i];
  *os << "}, heads " << c.heads << ", dim " << c.dim;
}

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

// Lengths below, at and around both vector lengths (8 and 16 lanes), the 16-key panels, the
// 16-lane kernel's 64-key score tiles and 16 x 16 K transposes, the query blocks (six rows) and
// the V copy (from 32 keys); head dims with register-accumulator paths (16, 32, 64) and without
// (8, 13, 24, 40: transposed 16 columns at a time, then column by column).
const auto kShapes =
    ::testing::Values(AttentionCase{{0, 1}, 1, 8}, AttentionCase{{0, 5, 12, 45}, 3, 32},
                      AttentionCase{{0, 128, 131}, 12, 32}, AttentionCase{{0, 9, 9, 40}, 2, 13},
                      AttentionCase{{0, 70}, 4, 64}, AttentionCase{{0, 1, 4, 19, 35, 51}, 2, 16},
                      AttentionCase{{0, 15, 31, 48, 65}, 2, 24}, AttentionCase{{0, 33, 46}, 3, 40},
                      AttentionCase{{0, 8, 24, 41}, 2, 64}, AttentionCase{{0, 130, 161}, 2, 64});

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionAvx2, kShapes);

struct HeadKernelCase {
  const char* name;
  Isa needs;
  HeadKernel head;
};

void PrintTo(const HeadKernelCase& k, std::ostream* os) { *os << k.name; }

const auto kHeadKernels = ::testing::Values(
    HeadKernelCase{"avx2", Isa::kAvx2, &avx2::attention_head},
    // The AVX-512 kernel's 16-lane code, built for AVX2, so that it runs on any AVX2 machine.
    HeadKernelCase{"wide16_on_avx2", Isa::kAvx2, &wide16::attention_head},
    HeadKernelCase{"avx512", Isa::kAvx512, &avx512::attention_head});

class AttentionHead : public ::testing::TestWithParam<std::tuple<HeadKernelCase, AttentionCase>> {};

TEST_P(AttentionHead, MatchesScalarReference) {
  const auto& [kernel, c] = GetParam();
  EMBEDRT_REQUIRE_ISA(kernel.needs);
  const auto qkv = random_vector(c.offsets.back() * 3 * c.heads * c.dim, 5, -2.0f, 2.0f);
  const auto expected = reference(qkv, c.offsets, c.heads, c.dim);
  const auto actual = run_heads(kernel.head, qkv, c.offsets, c.heads, c.dim);
  EXPECT_LE(max_abs_diff(expected, actual), 2e-6f);
}

TEST_P(AttentionHead, RelativeBiasAndWindowMatchReference) {
  const auto& [kernel, c] = GetParam();
  EMBEDRT_REQUIRE_ISA(kernel.needs);
  const auto qkv = random_vector(c.offsets.back() * 3 * c.heads * c.dim, 6, -2.0f, 2.0f);
  int variant = 0;
  for (const Mods& mods : mod_variants(c.offsets, c.heads)) {
    const auto expected = reference(qkv, c.offsets, c.heads, c.dim, mods);
    const auto actual = run_heads(kernel.head, qkv, c.offsets, c.heads, c.dim, mods);
    EXPECT_LE(max_abs_diff(expected, actual), 2e-6f) << "variant " << variant++;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionHead, ::testing::Combine(kHeadKernels, kShapes),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) + "_dim" +
                                  std::to_string(std::get<1>(info.param).dim) + "_" +
                                  std::to_string(info.index);
                         });

TEST(Attention, ScalarModsMatchFullMaskDefinition) {
  for (const AttentionCase& c : {AttentionCase{{0, 1}, 1, 8}, AttentionCase{{0, 5, 12, 45}, 3, 32},
                                 AttentionCase{{0, 9, 9, 40}, 2, 13}}) {
    const auto qkv = random_vector(c.offsets.back() * 3 * c.heads * c.dim, 8, -2.0f, 2.0f);
    for (const Mods& mods : mod_variants(c.offsets, c.heads)) {
      EXPECT_LE(max_abs_diff(masked_reference(qkv, c.offsets, c.heads, c.dim, mods),
                             reference(qkv, c.offsets, c.heads, c.dim, mods)),
                1e-6f);
    }
  }
}

TEST(Attention, PackedBatchAppliesBiasAndWindowPerHead) {
  const AttentionCase c{{0, 5, 12, 45, 46}, 3, 16};
  const auto qkv = random_vector(c.offsets.back() * 3 * c.heads * c.dim, 9, -2.0f, 2.0f);
  for (const Mods& mods : mod_variants(c.offsets, c.heads)) {
    std::vector<float> scratch(attention_scratch_per_thread(33, c.dim) * 2);
    std::vector<float> actual(c.offsets.back() * c.heads * c.dim, NAN);
    AttentionArgs args{qkv.data(), c.offsets.data(), int64_t(c.offsets.size()) - 1, c.heads,
                       c.dim,      actual.data()};
    args.relative_bias = mods.bias.empty() ? nullptr : mods.bias.data();
    args.bias_span = mods.span;
    args.window = mods.window;
    args.causal = mods.causal;
    args.scale = mods.scale;
    attention(args, scratch.data(), scratch.size());
    EXPECT_LE(max_abs_diff(masked_reference(qkv, c.offsets, c.heads, c.dim, mods), actual), 2e-6f);
  }
}

// Grouped-query attention: K/V head h / (heads / kv_heads) serves query head h. The same result as
// full multi-head attention over K/V heads repeated (transformers' repeat_kv).
TEST(Attention, GroupedKeyValueHeadsMatchRepeatedHeads) {
  const std::vector<int32_t> offsets{0, 7, 30, 31};
  const int64_t heads = 4, kv_heads = 2, dim = 16, tokens = offsets.back();
  const int64_t q_dim = heads * dim, kv_dim = kv_heads * dim, stride = q_dim + 2 * kv_dim;
  const auto qkv = random_vector(tokens * stride, 12, -2.0f, 2.0f);
  std::vector<float> repeated(tokens * 3 * q_dim);
  for (int64_t t = 0; t < tokens; ++t) {
    const float* row = qkv.data() + t * stride;
    float* out = repeated.data() + t * 3 * q_dim;
    std::copy(row, row + q_dim, out);
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t g = h / (heads / kv_heads);
      std::copy(row + q_dim + g * dim, row + q_dim + (g + 1) * dim, out + q_dim + h * dim);
      std::copy(row + q_dim + kv_dim + g * dim, row + q_dim + kv_dim + (g + 1) * dim,
                out + 2 * q_dim + h * dim);
    }
  }
  for (const bool causal : {false, true}) {
    Mods mods;
    mods.causal = causal;
    mods.scale = 0.2f;
    std::vector<float> scratch(attention_scratch_per_thread(23, dim) * 2);
    std::vector<float> actual(tokens * q_dim, NAN);
    AttentionArgs args{qkv.data(), offsets.data(), int64_t(offsets.size()) - 1, heads,
                       dim,        actual.data()};
    args.num_kv_heads = kv_heads;
    args.causal = causal;
    args.scale = mods.scale;
    attention(args, scratch.data(), scratch.size());
    EXPECT_LE(max_abs_diff(masked_reference(repeated, offsets, heads, dim, mods), actual), 2e-6f)
        << "causal " << causal;
  }
}

class AttentionHeadGrouping : public ::testing::TestWithParam<HeadKernelCase> {};

// Output row i depends only on q_i and the sequence's K and V, and the kernels promise the same
// bits whichever rows share a block. Rotating the query rows by one (K and V fixed) moves every
// row to another slot of a block, and the last row alone into the final partial block, so the
// outputs must rotate bit for bit.
TEST_P(AttentionHeadGrouping, RowResultIgnoresWhichRowsShareItsBlock) {
  const auto& kernel = GetParam();
  EMBEDRT_REQUIRE_ISA(kernel.needs);
  const int64_t len = 37;
  for (int64_t dim : {16, 24, 32, 64}) {
    const auto qkv = random_vector(len * 3 * dim, 31 + dim, -2.0f, 2.0f);
    auto rotated = qkv;
    for (int64_t t = 0; t < len; ++t) {
      const float* from = qkv.data() + ((t + 1) % len) * 3 * dim;
      std::copy(from, from + dim, rotated.data() + t * 3 * dim);
    }
    const std::vector<int32_t> offsets{0, int32_t(len)};
    const auto out = run_heads(kernel.head, qkv, offsets, 1, dim);
    const auto out_rotated = run_heads(kernel.head, rotated, offsets, 1, dim);
    for (int64_t t = 0; t < len; ++t) {
      const float* a = out.data() + ((t + 1) % len) * dim;
      EXPECT_TRUE(std::equal(a, a + dim, out_rotated.data() + t * dim))
          << "dim=" << dim << " row=" << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, AttentionHeadGrouping, kHeadKernels,
                         [](const auto& info) { return std::string(info.param.name); });

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

// A batch of many short sequences is shared out a whole sequence at a time, each thread claiming
// its next one ahead and fetching its rows while it runs the current one: every sequence must be
// computed exactly once, empty ones included, with the bits of a head-at-a-time run, whatever the
// thread count (1, 2 and 3 threads; 2 and 3 take the by-sequence path, 1 the per-head one).
TEST(Attention, ManySequencesMatchReferenceAndIgnoreTheThreadCount) {
  const int64_t heads = 3, dim = 32, hidden = heads * dim;
  std::vector<int32_t> offsets{0};
  for (int s = 0; s < 41; ++s) offsets.push_back(offsets.back() + (s * 7) % 23);  // 0..22 tokens
  const auto qkv = random_vector(offsets.back() * 3 * hidden, 31, -2.0f, 2.0f);
  const auto expected = reference(qkv, offsets, heads, dim);
  std::vector<float> scratch(attention_scratch_per_thread(22, dim) * 4);
  const int saved_threads = omp_get_max_threads();
  std::vector<float> first;
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    std::vector<float> actual(expected.size(), NAN);
    attention({qkv.data(), offsets.data(), int64_t(offsets.size()) - 1, heads, dim, actual.data()},
              scratch.data(), scratch.size());
    EXPECT_LE(max_abs_diff(expected, actual), 2e-6f) << threads << " threads";
    if (first.empty()) first = actual;
    EXPECT_TRUE(std::equal(first.begin(), first.end(), actual.begin())) << threads << " threads";
  }
  omp_set_num_threads(saved_threads);
}

// Query blocks that see more than kAttentionTwoPassKeys keys are computed by the SIMD kernels with
// an online softmax over key blocks (a running maximum and sum, the accumulators rescaled when the
// maximum grows), which rounds differently from the two-pass reference but must stay within 1e-5
// of it: bidirectional, causal (blocks before and past the key block), windows wider and narrower
// than a key block, the relative bias, a custom scale, and head dims with and without a partial
// vector (40) and past the register tiles (128, 256).
TEST(AttentionLong, OnlineSoftmaxMatchesScalarReference) {
  EMBEDRT_REQUIRE_AVX2();
  struct LongCase {
    int64_t len, dim;
    Mods mods;
    const char* what;
  };
  const int64_t span = 3001;
  const auto bias = random_vector(2 * span - 1, 41, -3.0f, 3.0f);
  const std::vector<LongCase> cases{
      {1100, 128, Mods{}, "bidirectional"},
      {3000, 32, Mods{{}, 0, 0, true, 0.1f}, "causal, scale 0.1"},
      {3000, 32, Mods{bias, span, 400}, "window 400, relative bias"},
      {2000, 128, Mods{{}, 0, 200}, "window 200 (two-pass blocks in a long sequence)"},
      {1300, 40, Mods{{}, 0, 600, true}, "window 600, causal"},
      {1100, 256, Mods{{}, 0, 256}, "window 256"},
  };
  int seed = 50;
  for (const LongCase& c : cases) {
    ASSERT_GT(c.len, kAttentionTwoPassKeys);
    const std::vector<int32_t> offsets{0, int32_t(c.len)};
    const auto qkv = random_vector(c.len * 3 * c.dim, seed++, -2.0f, 2.0f);
    const auto expected = reference(qkv, offsets, 1, c.dim, c.mods);
    float scale = 1.0f;
    for (float x : expected) scale = std::max(scale, std::fabs(x));
    for (const HeadKernelCase& kernel :
         {HeadKernelCase{"avx2", Isa::kAvx2, &avx2::attention_head},
          HeadKernelCase{"wide16_on_avx2", Isa::kAvx2, &wide16::attention_head},
          HeadKernelCase{"avx512", Isa::kAvx512, &avx512::attention_head}}) {
      if (detect_cpu_isa() < kernel.needs) continue;
      const auto actual = run_heads(kernel.head, qkv, offsets, 1, c.dim, c.mods);
      EXPECT_LE(max_abs_diff(expected, actual), 1e-5f * scale)
          << kernel.name << ": len " << c.len << ", dim " << c.dim << ", " << c.what;
    }
  }
}

// A long sequence through attention() (the active ISA's kernel) with grouped K/V heads and the
// causal mask, against the reference over the K/V heads repeated; then the same sequence packed
// between two others gives the same bits.
TEST(AttentionLong, GroupedCausalMatchesReferenceAndIgnoresTheBatch) {
  const int64_t heads = 2, kv_heads = 1, dim = 64, len = 1500;
  const int64_t q_dim = heads * dim, kv_dim = kv_heads * dim, stride = q_dim + 2 * kv_dim;
  const auto qkv = random_vector(len * stride, 60, -2.0f, 2.0f);
  std::vector<float> repeated(len * 3 * q_dim);
  for (int64_t t = 0; t < len; ++t) {
    const float* row = qkv.data() + t * stride;
    float* out = repeated.data() + t * 3 * q_dim;
    std::copy(row, row + q_dim, out);
    for (int64_t h = 0; h < heads; ++h) {
      std::copy(row + q_dim, row + q_dim + dim, out + q_dim + h * dim);
      std::copy(row + q_dim + kv_dim, row + q_dim + kv_dim + dim, out + 2 * q_dim + h * dim);
    }
  }
  Mods mods;
  mods.causal = true;
  const std::vector<int32_t> alone_offsets{0, int32_t(len)};
  const auto expected = reference(repeated, alone_offsets, heads, dim, mods);

  const auto before = random_vector(700 * stride, 61, -2.0f, 2.0f);
  const auto after = random_vector(600 * stride, 62, -2.0f, 2.0f);
  std::vector<float> batch(before);
  batch.insert(batch.end(), qkv.begin(), qkv.end());
  batch.insert(batch.end(), after.begin(), after.end());
  const std::vector<int32_t> batch_offsets{0, 700, int32_t(700 + len), int32_t(1300 + len)};

  std::vector<float> scratch(attention_scratch_per_thread(len, dim) * 2);
  std::vector<float> out_alone(len * q_dim, NAN), out_batch((1300 + len) * q_dim, NAN);
  AttentionArgs args{qkv.data(), alone_offsets.data(), 1, heads, dim, out_alone.data()};
  args.num_kv_heads = kv_heads;
  args.causal = true;
  attention(args, scratch.data(), scratch.size());
  EXPECT_LE(max_abs_diff(expected, out_alone), 1e-5f);

  args.qkv = batch.data();
  args.offsets = batch_offsets.data();
  args.num_seqs = 3;
  args.out = out_batch.data();
  attention(args, scratch.data(), scratch.size());
  EXPECT_TRUE(std::equal(out_alone.begin(), out_alone.end(), out_batch.begin() + 700 * q_dim));
}

// The bf16 kernel (AMX): Q, K and V rounded to bf16, the softmax weights too. Against the scalar
// reference run on the same bf16-rounded Q, K and V, the only difference left is the weights'
// rounding (relative 2^-9 each, weights summing to 1, so at most 2^-9 * 2 * (1 + 2^-9) for values
// in [-2, 2]) and fp32 sums: within 8e-3, where a wrong layout or tile is off by O(1).
std::vector<float> rounded_to_bf16(std::vector<float> x) {
  for (float& v : x) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    std::memcpy(&v, &u, 4);
  }
  return x;
}

void amx_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
              int64_t head_dim, float* out, int64_t out_stride, float* scratch,
              const ScoreMods& mods) {
  amx::attention_head(q, k, v, stride, len, head_dim, out, out_stride, scratch, mods);
}

TEST(AttentionAmx, MatchesBf16ReferenceOnEveryPathAndHeadSize) {
  if (!amx::available()) GTEST_SKIP() << "this CPU (or OS) has no AMX-BF16";
  const std::vector<AttentionCase> cases = {{{0, 1, 6, 22, 38, 71}, 2, 64},
                                            {{0, 16, 33, 65, 194}, 3, 32},
                                            {{0, 31, 130}, 2, 96},
                                            {{0, 47, 600}, 1, 128},
                                            {{0, 1100}, 1, 64},
                                            {{0, 5, 40}, 2, 256}};
  for (const AttentionCase& c : cases) {
    ASSERT_TRUE(amx::supports(c.dim));
    const auto qkv =
        rounded_to_bf16(random_vector(c.offsets.back() * 3 * c.heads * c.dim, 11, -2.0f, 2.0f));
    int variant = 0;
    std::vector<Mods> variants = mod_variants(c.offsets, c.heads);
    variants.insert(variants.begin(), Mods{});
    for (const Mods& mods : variants) {
      const auto expected = reference(qkv, c.offsets, c.heads, c.dim, mods);
      const auto actual = run_heads(&amx_head, qkv, c.offsets, c.heads, c.dim, mods);
      EXPECT_LE(max_abs_diff(expected, actual), 8e-3f)
          << "dim " << c.dim << " longest " << c.offsets.back() << " variant " << variant;
      ++variant;
    }
  }
}

TEST(AttentionAmx, Bf16ArgsRunOnAmxAndStayBatchInvariant) {
  if (!amx::available()) GTEST_SKIP() << "this CPU (or OS) has no AMX-BF16";
  // EMBEDRT_ISA below avx512 takes the paths of a CPU without AMX: fp32 attention.
  if (active_isa() < Isa::kAvx512) GTEST_SKIP() << "EMBEDRT_ISA is below avx512";
  const int64_t heads = 2, dim = 64, hidden = heads * dim, stride = 3 * hidden;
  const std::vector<int32_t> offsets{0, 3, 140, 141, 400};
  const auto qkv = random_vector(offsets.back() * stride, 12, -2.0f, 2.0f);
  std::vector<float> scratch(attention_scratch_per_thread(259, dim) * 3);
  std::vector<float> batch_out(offsets.back() * hidden, NAN);
  AttentionArgs args{qkv.data(), offsets.data(), 4, heads, dim, batch_out.data()};
  args.bf16 = true;
  attention(args, scratch.data(), scratch.size());
  // Not the fp32 kernel's result (bf16 rounding shows), but close to the exact one.
  const auto exact = reference(qkv, offsets, heads, dim);
  EXPECT_GT(max_abs_diff(exact, batch_out), 1e-5f);
  EXPECT_LE(max_abs_diff(exact, batch_out), 5e-2f);
  // Each sequence alone gives the same bits as inside the batch.
  for (size_t s = 0; s + 1 < offsets.size(); ++s) {
    const int32_t begin = offsets[s], len = offsets[s + 1] - begin;
    const std::vector<int32_t> alone{0, len};
    std::vector<float> alone_out(len * hidden, NAN);
    AttentionArgs one{qkv.data() + begin * stride, alone.data(), 1, heads, dim, alone_out.data()};
    one.bf16 = true;
    attention(one, scratch.data(), scratch.size());
    EXPECT_TRUE(std::equal(alone_out.begin(), alone_out.end(), batch_out.begin() + begin * hidden))
        << "sequence " << s;
  }
}

}  // namespace
}  // namespace embedrt::kernels
