#include "kernels/cpu/attention.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cmath>
#include <vector>

#include "kernels/cpu/attention_amx.h"
#include "kernels/cpu/cpu_features.h"

namespace embedrt::kernels {
namespace {

int64_t round_up16(int64_t n) { return (n + 15) & ~int64_t{15}; }

// This core's L2 in bytes, as the C library reads it from CPUID; 512 KiB (Zen 3's) if unknown.
size_t l2_cache_bytes() {
  static const size_t bytes = [] {
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return l2 > 0 ? size_t(l2) : size_t{512} << 10;
  }();
  return bytes;
}

}  // namespace

size_t attention_scratch_per_thread(int64_t max_len, int64_t head_dim) {
  // K transposed (len rounded up to the 16- and 32-key panels the kernels lay it out in), V's rows
  // copied contiguous (as many floats), the score rows, one output row, the online softmax's state
  // when a query block can see more than one key block, plus slack so each thread's block starts
  // 64-byte aligned.
  const int64_t dim16 = round_up16(head_dim);
  const int64_t state = max_len > kAttentionTwoPassKeys ? kAttentionStateRows * (dim16 + 2) : 0;
  const size_t fp32 =
      static_cast<size_t>(2 * ((max_len + 31) & ~int64_t{31}) * head_dim +
                          kAttentionScoreRows * attention_score_cols(max_len) + dim16 + state + 16);
  // The bf16 kernel's (AMX) packed K and V, the block's scores and weights: at most as much
  // for head sizes of 32 and up and up to a few thousand tokens, more for the longest.
  const size_t bf16 = (amx::scratch_bytes(max_len, head_dim) + 3) / 4 + 16;
  return fp32 > bf16 ? fp32 : bf16;
}

void attention(const AttentionArgs& a, float* scratch, size_t scratch_floats) {
  int64_t max_len = 0;
  for (int64_t s = 0; s < a.num_seqs; ++s) {
    max_len = std::max<int64_t>(max_len, a.offsets[s + 1] - a.offsets[s]);
  }
  if (max_len == 0) return;
  const size_t per_thread = attention_scratch_per_thread(max_len, a.head_dim);
  const int64_t kv_heads = a.num_kv_heads > 0 ? a.num_kv_heads : a.num_heads;
  assert(a.num_heads % kv_heads == 0 && "kv heads must divide the query heads");
  const int64_t group = a.num_heads / kv_heads;
  const int64_t hidden = a.num_heads * a.head_dim;
  const int64_t kv_dim = kv_heads * a.head_dim;
  const int64_t stride = hidden + 2 * kv_dim;
  const int64_t items = a.num_seqs * a.num_heads;
  const int threads = static_cast<int>(
      std::min<int64_t>({omp_get_max_threads(), int64_t(scratch_floats / per_thread), items}));
  assert(threads >= 1 && "attention scratch too small");
  const Isa isa = active_isa();
  const auto head_kernel = isa >= Isa::kAvx512 ? &avx512::attention_head
                           : isa >= Isa::kAvx2 ? &avx2::attention_head
                                               : &scalar::attention_head;
  const bool on_amx =
      a.bf16 && isa >= Isa::kAvx512 && amx::supports(a.head_dim) && amx::available();

  // A head reads head_dim floats of every row, `stride` floats apart: more than a page apart at
  // hidden size 768, which the hardware prefetchers do not follow, so each head of a sequence
  // found its rows in L3 with a stall per row. With enough sequences to share out and rows that
  // fit in L2, a thread takes whole sequences instead: it first sweeps the sequence's rows in
  // order into L2, then runs every head from there. all-mpnet-base-v2, 64 texts of ~122 tokens,
  // bf16: attention 366 -> 307 ms (Intel Xeon, 2 MiB L2, 2 threads).
  const size_t sequence_bytes = size_t(max_len) * size_t(stride) * sizeof(float);
  const bool by_sequence = a.num_seqs >= 4 * int64_t(threads) && sequence_bytes <= l2_cache_bytes();
  const auto run_head = [&](int64_t s, int64_t h, float* mine) {
    const int64_t begin = a.offsets[s];
    const int64_t len = a.offsets[s + 1] - begin;
    if (len == 0) return;
    const float* row = a.qkv + begin * stride;
    const float* q = row + h * a.head_dim;
    const float* k = row + hidden + (h / group) * a.head_dim;
    ScoreMods mods;
    if (a.relative_bias) {
      assert(a.bias_span >= len && "relative bias table shorter than the sequence");
      mods.relative_bias = a.relative_bias + h * (2 * a.bias_span - 1);
      mods.bias_span = a.bias_span;
    }
    mods.window = a.window;
    mods.causal = a.causal;
    mods.scale = a.scale;
    float* out = a.out + begin * hidden + h * a.head_dim;
    if (on_amx) {
      amx::attention_head(q, k, k + kv_dim, stride, len, a.head_dim, out, hidden, mine, mods);
    } else {
      head_kernel(q, k, k + kv_dim, stride, len, a.head_dim, out, hidden, mine, mods);
    }
  };
  // Lines [b0, b1) of sequence s's rows fetched into L2.
  const auto fetch = [&](int64_t s, size_t b0, size_t b1) {
    const char* rows = reinterpret_cast<const char*>(a.qkv + a.offsets[s] * stride);
    for (size_t b = b0 * 64; b < b1 * 64; b += 64) __builtin_prefetch(rows + b, 0, 2);
  };
  const auto lines_of = [&](int64_t s) {
    return (size_t(a.offsets[s + 1] - a.offsets[s]) * stride * sizeof(float) + 63) / 64;
  };
  // By sequence, each thread claims its next sequence before it runs the current one and fetches
  // the next one's rows a share per head, so they arrive while it computes instead of stalling
  // the first head of every sequence on L3. Claimed from a shared counter, the schedule stays
  // dynamic (a virtual machine's cores can run at different speeds). all-mpnet-base-v2, 3,000 STS-B
  // sentences, fp32: attention 491-511 -> 445-457 ms in 6 interleaved pairs (Xeon with AMX, 2
  // threads; same bits).
  std::atomic<int64_t> next_sequence{0};
#pragma omp parallel num_threads(threads)
  {
    float* mine = scratch + per_thread * omp_get_thread_num();
    mine += (16 - (reinterpret_cast<uintptr_t>(mine) / sizeof(float)) % 16) % 16;
    if (by_sequence) {
      int64_t s = next_sequence.fetch_add(1, std::memory_order_relaxed);
      if (s < a.num_seqs) fetch(s, 0, lines_of(s));
      while (s < a.num_seqs) {
        const int64_t following = next_sequence.fetch_add(1, std::memory_order_relaxed);
        const size_t lines = following < a.num_seqs ? lines_of(following) : 0;
        for (int64_t h = 0; h < a.num_heads; ++h) {
          if (lines > 0) fetch(following, lines * h / a.num_heads, lines * (h + 1) / a.num_heads);
          run_head(s, h, mine);
        }
        s = following;
      }
    } else {
#pragma omp for schedule(dynamic, 1)
      for (int64_t item = 0; item < items; ++item) {
        run_head(item / a.num_heads, item % a.num_heads, mine);
      }
    }
  }
}

namespace scalar {

void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch,
                    const ScoreMods& mods) {
  const double scale = mods.scale > 0.0f ? double(mods.scale) : 1.0 / std::sqrt(double(head_dim));
  std::vector<double> scores(len);
  for (int64_t i = 0; i < len; ++i) {
    const int64_t first = mods.first_key(i), last = mods.last_key(i + 1, len);
    double max = -INFINITY;
    for (int64_t j = first; j < last; ++j) {
      double dot = 0;
      for (int64_t c = 0; c < head_dim; ++c) dot += double(q[i * stride + c]) * k[j * stride + c];
      scores[j] = dot * scale;
      if (mods.relative_bias) scores[j] += mods.relative_bias[j - i + mods.bias_span - 1];
      if (mods.window > 0 && std::abs(j - i) > mods.window) scores[j] = -INFINITY;
      if (mods.causal && j > i) scores[j] = -INFINITY;
      max = std::max(max, scores[j]);
    }
    double sum = 0;
    for (int64_t j = first; j < last; ++j) sum += (scores[j] = std::exp(scores[j] - max));
    for (int64_t c = 0; c < head_dim; ++c) {
      double acc = 0;
      for (int64_t j = first; j < last; ++j) acc += scores[j] * v[j * stride + c];
      out[i * out_stride + c] = static_cast<float>(acc / sum);
    }
  }
}

}  // namespace scalar
}  // namespace embedrt::kernels
