#include "runtime/memory_model.h"

#include <algorithm>

#include "kernels/cpu/attention.h"
#include "model/transformer_spec.h"

namespace embedrt::runtime {
namespace {

constexpr size_t kF32 = sizeof(float);

size_t round_up(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// Rows of the last oneDNN call of an int8 matmul over `rows` rows: they are padded to a multiple
// of 16 and cut into calls of 256; 0 when no padding (and so no s32 scratch) is needed.
size_t int8_padded_tail(size_t rows) {
  const size_t padded = round_up(rows, 16);
  if (rows == 0 || padded == rows) return 0;
  return padded - (padded - 1) / 256 * 256;
}

// The widths the matmuls see: Q (query heads x head_dim), KV (one of K and V), U (the up
// projection's output: I, or 2I gated).
struct Widths {
  size_t h, i, q, kv, u;
  size_t qkv() const { return q + 2 * kv; }
};

Widths widths(const ModelShape& m) {
  const size_t heads = std::max<size_t>(m.attention_heads, 1);
  const size_t d = m.head_dim > 0 ? m.head_dim : m.hidden_size / heads;
  const size_t kv_heads = m.key_value_heads > 0 ? m.key_value_heads : heads;
  const size_t i = m.intermediate_size;
  return {m.hidden_size, i, heads * d, kv_heads * d, m.gated_mlp ? 2 * i : i};
}

size_t matmul_weight_count(const ModelShape& m) {
  const Widths w = widths(m);
  return m.layers * (w.h * w.qkv() + w.q * w.h + w.h * w.u + w.i * w.h);
}

// Matmul output channels per layer: QKV, attention output (H), FFN up (U), FFN down (H).
size_t matmul_outputs(const ModelShape& m) {
  const Widths w = widths(m);
  return m.layers * (w.qkv() + 2 * w.h + w.u);
}

}  // namespace

size_t estimate_weight_bytes(const ModelShape& m, Precision precision) {
  if (m.weight_bytes > 0) return m.weight_bytes;
  const size_t matmul = matmul_weight_count(m);
  // Everything that is not a matmul weight (embedding tables, biases, LayerNorm) stays fp32.
  const size_t other = m.parameters > matmul ? m.parameters - matmul : 0;
  const size_t words = std::min(other, m.vocab_size * m.hidden_size);
  switch (precision) {
    case Precision::kBF16:
      if (m.word_embeddings_16bit) return 2 * matmul + 2 * words + kF32 * (other - words);
      return 2 * matmul + kF32 * other;
    case Precision::kInt8: {
      // Word embeddings in 16 bits; a scale and a column sum per output channel.
      return matmul + 2 * words + kF32 * (other - words + 2 * matmul_outputs(m));
    }
    case Precision::kF32:
      break;
  }
  return kF32 * (matmul + other);
}

MemoryEstimate estimate_memory(const ModelShape& m, const BatchShape& b) {
  const Widths w = widths(m);
  const size_t h = w.h, i = w.i, t = b.tokens;
  const size_t threads = static_cast<size_t>(std::max(b.threads, 1));
  MemoryEstimate e;
  // model::TransformerEncoder runs the feed-forward block in chunks of this many tokens.
  const size_t ffn_chunk = static_cast<size_t>(model::ffn_chunk_tokens(static_cast<int64_t>(w.u)));
  const size_t ffn_rows = std::min(t, ffn_chunk);
  e.activations = kF32 * (t * (2 * h + w.qkv() + w.q + (m.pre_norm ? h : 0)) +
                          ffn_rows * (w.u + (m.gated_mlp ? i : 0)));
  if (t > 0 && b.longest > 0) {
    const size_t head_dim = w.q / std::max<size_t>(m.attention_heads, 1);
    e.attention_scratch = kF32 * threads *
                          kernels::attention_scratch_per_thread(static_cast<int64_t>(b.longest),
                                                                static_cast<int64_t>(head_dim));
  }
  if (t == 0) {
    e.weights = estimate_weight_bytes(m, b.precision);
    return e;
  }
  switch (b.precision) {
    case Precision::kBF16: {
      // Batch-invariant calls stop at 128 rows (kernels::Linear); otherwise a call takes all the
      // rows it is given: the batch, or one feed-forward chunk for the FFN down projection.
      const size_t rows_h = b.deterministic ? std::min<size_t>(t, 128) : t;
      const size_t rows_i = b.deterministic ? std::min<size_t>(ffn_rows, 128) : ffn_rows;
      e.quantized_inputs = 2 * std::max(rows_h * std::max(h, w.q), rows_i * i);
      break;
    }
    case Precision::kInt8: {
      // All rows of a call are quantized at once; the feed-forward block comes in chunks.
      const size_t last_chunk = t - (t - 1) / ffn_chunk * ffn_chunk;
      e.quantized_inputs =
          std::max(round_up(t, 16) * std::max(h, w.q), round_up(ffn_rows, 16) * i) + 2 * kF32 * t +
          kF32 * std::max(int8_padded_tail(t) * w.qkv(),
                          int8_padded_tail(last_chunk) * std::max(h, w.u));
      break;
    }
    case Precision::kF32:
      break;
  }
  if (b.precision == Precision::kF32) {
    // embedrt's packed GEMM (AVX2 and AVX-512): every thread of a call copies the rows of its
    // current block (at most 48 rows plus one more register tile) into its tile layout, whatever
    // `deterministic` says. On CPUs without AVX2, oneDNN's zero-padded tail (below) is smaller.
    e.gemm_scratch = kF32 * threads * std::min<size_t>(t, 60) * std::max({h, w.q, i});
  } else if (b.precision == Precision::kBF16 && b.deterministic) {
    // The tail is what is left after the largest allowed row counts, padded to the next one: at
    // most a couple of 6-row quanta for all but the smallest batches.
    const size_t tail_rows = round_up(std::min<size_t>(t, 12), 6);
    e.gemm_scratch = kF32 * tail_rows * (w.u + i + h);
  }
  e.weights = estimate_weight_bytes(m, b.precision);
  return e;
}

size_t largest_batch_size(const ModelShape& m, size_t sequence_length, size_t available_bytes,
                          const BatchShape& settings, size_t max_batch_size) {
  if (sequence_length == 0 || max_batch_size == 0) return 0;
  const auto fits = [&](size_t n) {
    BatchShape b = settings;
    b.tokens = n * sequence_length;
    b.longest = sequence_length;
    return estimate_memory(m, b).batch() <= available_bytes;
  };
  if (!fits(1)) return 0;
  // batch() grows with the batch size, so the answer is the edge of a monotone predicate.
  size_t lo = 1, hi = max_batch_size;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo + 1) / 2;
    if (fits(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

size_t largest_token_budget(const ModelShape& m, size_t longest, size_t available_bytes,
                            const BatchShape& settings, size_t max_tokens) {
  if (longest == 0 || max_tokens < longest) return 0;
  const auto fits = [&](size_t tokens) {
    BatchShape b = settings;
    b.tokens = tokens;
    b.longest = longest;
    return estimate_memory(m, b).batch() <= available_bytes;
  };
  if (!fits(longest)) return 0;
  size_t lo = longest, hi = max_tokens;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo + 1) / 2;
    if (fits(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

}  // namespace embedrt::runtime
