// The attention driver the vector kernels share (attention_avx2.cpp with 8-lane intrinsics,
// wide_simd.h with 16-lane vector extensions): K transposed into panels, query blocks, the
// two-pass softmax for blocks that see at most kAttentionTwoPassKeys keys and the online softmax
// over kAttentionKeyBlock-key blocks past it. Only the tiles differ per instruction set; a
// `Tiles` policy names them:
//
//   static constexpr int kRows;        query rows per block, scored together
//                                      (<= kAttentionScoreRows, divides kAttentionStateRows)
//   static constexpr int64_t kKeys;    keys per score tile: score rows start at multiples of it
//   static constexpr int64_t kLanes;   floats per vector: P.V is tiled over head_dim's first
//                                      multiple of kLanes columns
//   static constexpr int64_t kPanel;   keys per panel of the transposed K (transpose_k)
//   block_scores(q_rows, kt, head_dim, scores, ld, j0, j1)
//   softmax_row(row, n, scale)         that instruction set's scaled_softmax_row
//   weighted_values(p_rows, rows, v, stride, count, dim_full, init, alpha, out)
//   weighted_values_generic(p, ld_p, rows, v, stride, len, head_dim, acc, out)
//   row_max(row, n)                    the largest of row[0, n), n a multiple of kKeys
//   exp_row(row, n, scale, shift)      row[c] = exp(row[c] * scale + shift); returns their sum
//   transpose_16x16(src, ld_src, dst, ld_dst)   optional: dst[c * ld_dst + r] = src[r * ld_src + c]
//                                      for r, c < 16
//
// Translation units built with different -m flags include this header, so, as wide_simd.h
// explains, everything here has internal linkage and calls compiler builtins only.
#pragma once

#include <cstdint>

#include "kernels/cpu/attention.h"

namespace embedrt::kernels::attention_driver {
namespace {

// Keys the transposed K is padded to (a multiple of every policy's panel width).
constexpr int64_t kKtKeys = 32;
// Sequences of at least this many keys have their V rows copied contiguous (attention_head).
constexpr int64_t kCopyVKeys = 32;

// What the block functions need to know about one (sequence, head).
struct HeadArgs {
  const float* v;
  int64_t stride;
  int64_t len;
  int64_t head_dim;
  const float* kt;  // K transposed into the policy's panels
  float* scores;    // [kRows][ld]
  int64_t ld;
  const ScoreMods& mods;
  float scale;
};

// K rows [0, len) in panels of kPanel keys: key j, column c at kt[(j / kPanel) * head_dim *
// kPanel + c * kPanel + j % kPanel], so a score tile's loads are sequential and a key block's
// panels contiguous whatever the length; zeros from len to a whole score tile of kKeys keys (kKeys
// divides kPanel), the last key a tile reads. A policy with `transpose_16x16` moves whole blocks of
// 16 keys by 16 columns through registers (a K row is a page apart from the next, and key by key
// the copy was a store per element: 13% of a 122-token head). The zeros are written a column's run
// at a time: writing a whole panel's worth key by key, a store per (key, column) kPanel floats
// apart, was 40% of a head's time on 10-token sentences.
template <typename Tiles>
void transpose_k(const float* k, int64_t stride, int64_t len, int64_t head_dim, float* kt) {
  constexpr int64_t kPanel = Tiles::kPanel, kKeys = Tiles::kKeys;
  static_assert(kPanel % kKeys == 0, "score tiles lie within panels");
  int64_t first_single = 0;
  if constexpr (requires { Tiles::transpose_16x16; }) {
    static_assert(kPanel % 16 == 0, "16-key blocks lie within panels");
    const int64_t cols16 = head_dim & ~int64_t{15};
    for (; first_single + 16 <= len; first_single += 16) {
      const int64_t j = first_single;
      const float* src = k + j * stride;
      float* dst = kt + (j / kPanel) * head_dim * kPanel + j % kPanel;
      for (int64_t c = 0; c < cols16; c += 16) {
        Tiles::transpose_16x16(src + c, stride, dst + c * kPanel, kPanel);
      }
      for (int64_t c = cols16; c < head_dim; ++c) {
        for (int64_t r = 0; r < 16; ++r) dst[c * kPanel + r] = src[r * stride + c];
      }
    }
  }
  for (int64_t j = first_single; j < len; ++j) {  // K rows read in order
    float* dst = kt + (j / kPanel) * head_dim * kPanel + j % kPanel;
    for (int64_t c = 0; c < head_dim; ++c) dst[c * kPanel] = k[j * stride + c];
  }
  const int64_t end = (len + kKeys - 1) & ~int64_t{kKeys - 1};
  if (end == len) return;
  float* panel = kt + (len / kPanel) * head_dim * kPanel;
  const int64_t first = len % kPanel, last = first + (end - len);
  for (int64_t c = 0; c < head_dim; ++c) {
    for (int64_t j = first; j < last; ++j) panel[c * kPanel + j] = 0.0f;
  }
}

// Query i's scores for keys [first, last) (row[0] is key first) turned into softmax weights in
// place: scaled, biased and masked first where the mods are active (masked keys get weight 0).
// Without mods, [first, last) is the whole sequence. The AMX kernel shares it.
template <typename Tiles>
void softmax_seen(float* row, int64_t i, int64_t first, int64_t last, const ScoreMods& mods,
                  float scale) {
  if (mods.active()) {
    mods.apply(row, i, first, last, scale);
    Tiles::softmax_row(row, last - first, 1.0f);
  } else {
    Tiles::softmax_row(row, last - first, scale);
  }
}

// Query rows [i, i + rows), which see keys [first, last), no more than kAttentionTwoPassKeys of
// them: all scores, then the softmax, then P.V.
template <typename Tiles>
void two_pass_block(const HeadArgs& h, const float* const* q_rows, float* const* out_rows, int rows,
                    int64_t i, int64_t first, int64_t last, float* acc) {
  constexpr int64_t kKeys = Tiles::kKeys;
  const int64_t j0 = first & ~int64_t{kKeys - 1};
  const int64_t j1 = (last + kKeys - 1) & ~int64_t{kKeys - 1};
  Tiles::block_scores(q_rows, h.kt, h.head_dim, h.scores, h.ld, j0, j1);
  for (int r = 0; r < rows; ++r) {
    float* row = h.scores + r * h.ld + (first - j0);
    softmax_seen<Tiles>(row, i + r, first, last, h.mods, h.scale);
  }
  const float* p = h.scores + (first - j0);
  const float* vf = h.v + first * h.stride;
  const int64_t n = last - first;
  if (h.head_dim % Tiles::kLanes == 0) {
    const float* p_rows[Tiles::kRows];
    // Missing rows of the last block repeat the first one; their results are not stored.
    for (int r = 0; r < Tiles::kRows; ++r) p_rows[r] = p + (r < rows ? r : 0) * h.ld;
    Tiles::weighted_values(p_rows, rows, vf, h.stride, n, h.head_dim, nullptr, nullptr, out_rows);
  } else {
    Tiles::weighted_values_generic(p, h.ld, rows, vf, h.stride, n, h.head_dim, acc, out_rows);
  }
}

// One query row's scores for keys [j0, j1) (whole tiles) of a key block, of which it may see
// [lo, hi), turned into exp(score - running max) in place; m and l, the running maximum and sum,
// move on and alpha is what the row's earlier accumulators must be scaled by. A row that sees no
// key of the block (causal or window) gets zero weights and alpha 1: it stays as it was, bit for
// bit, so a row's result depends on its own keys only, not on the rows that share its block.
template <typename Tiles>
void online_softmax_block(float* row, int64_t j0, int64_t j1, int64_t lo, int64_t hi, int64_t i,
                          const ScoreMods& mods, float scale, float& m, float& l, float& alpha) {
  const float lowest = -__builtin_inff();
  for (int64_t j = j0; j < lo; ++j) row[j - j0] = lowest;
  for (int64_t j = hi; j < j1; ++j) row[j - j0] = lowest;
  float s = scale;
  if (mods.active()) {
    mods.apply(row + (lo - j0), i, lo, hi, scale);
    s = 1.0f;
  }
  const float block_max = Tiles::row_max(row, j1 - j0);
  if (block_max == lowest) {
    for (int64_t j = lo; j < hi; ++j) row[j - j0] = 0.0f;
    alpha = 1.0f;
    return;
  }
  const float m_new = block_max > m ? block_max : m;
  alpha = m == lowest ? 0.0f : __builtin_expf((m - m_new) * s);
  // One rounding, as GCC's contraction gave when the sum was computed inline: the same bits.
  l = __builtin_fmaf(l, alpha, Tiles::exp_row(row, j1 - j0, s, -m_new * s));
  m = m_new;
}

// Query rows [i0, i1) (at most kAttentionStateRows) by online softmax: every key block in turn,
// for every block of kRows rows that sees some of its keys, scores, softmax state and P.V, so the
// block's K panels and V rows are read from cache by all the rows. state: kAttentionStateRows *
// (dim16 + 2) floats.
template <typename Tiles>
void online_rows(const HeadArgs& h, const float* q, int64_t q_stride, float* out,
                 int64_t out_stride, int64_t i0, int64_t i1, float* state) {
  constexpr int kRows = Tiles::kRows;
  constexpr int64_t kKeys = Tiles::kKeys;
  static_assert(kAttentionStateRows % kRows == 0, "the online state holds whole query blocks");
  const int64_t dim16 = (h.head_dim + 15) & ~int64_t{15};
  const int64_t dim_full = h.head_dim & ~int64_t{Tiles::kLanes - 1};
  float* acc = state;  // [rows][dim16]
  float* run_max = acc + kAttentionStateRows * dim16;
  float* run_sum = run_max + kAttentionStateRows;
  for (int64_t r = 0; r < i1 - i0; ++r) {
    run_max[r] = -__builtin_inff();
    run_sum[r] = 0.0f;
    for (int64_t c = 0; c < h.head_dim; ++c) acc[r * dim16 + c] = 0.0f;
  }
  const int64_t key_begin = h.mods.first_key(i0), key_end = h.mods.last_key(i1, h.len);
  for (int64_t kb = key_begin - key_begin % kAttentionKeyBlock; kb < key_end;
       kb += kAttentionKeyBlock) {
    for (int64_t i = i0; i < i1; i += kRows) {
      const int rows = static_cast<int>(i1 - i < kRows ? i1 - i : kRows);
      const int64_t lo_first = h.mods.first_key(i), hi_last = h.mods.last_key(i + rows, h.len);
      const int64_t lo = kb > lo_first ? kb : lo_first;
      const int64_t hi = kb + kAttentionKeyBlock < hi_last ? kb + kAttentionKeyBlock : hi_last;
      if (lo >= hi) continue;
      const int64_t j0 = lo & ~int64_t{kKeys - 1};
      const int64_t j1 = (hi + kKeys - 1) & ~int64_t{kKeys - 1};
      const float* q_rows[kRows];
      const float* p_rows[kRows];
      float* acc_rows[kRows];
      float alpha[kRows];
      for (int r = 0; r < kRows; ++r) {
        // Missing rows of the last block repeat the first one; their results are dropped.
        const int64_t row = i + (r < rows ? r : 0);
        q_rows[r] = q + row * q_stride;
        p_rows[r] = h.scores + (r < rows ? r : 0) * h.ld + (lo - j0);
        acc_rows[r] = acc + (row - i0) * dim16;
      }
      Tiles::block_scores(q_rows, h.kt, h.head_dim, h.scores, h.ld, j0, j1);
      for (int r = 0; r < rows; ++r) {
        online_softmax_block<Tiles>(h.scores + r * h.ld, j0, j1, lo, hi, i + r, h.mods, h.scale,
                                    run_max[i - i0 + r], run_sum[i - i0 + r], alpha[r]);
      }
      const float* vb = h.v + lo * h.stride;
      Tiles::weighted_values(p_rows, rows, vb, h.stride, hi - lo, dim_full, acc_rows, alpha,
                             acc_rows);
      for (int r = 0; r < rows; ++r) {
        for (int64_t c = dim_full; c < h.head_dim; ++c) {
          float a = acc_rows[r][c] * alpha[r];
          for (int64_t t = 0; t < hi - lo; ++t) {
            a = __builtin_fmaf(p_rows[r][t], vb[t * h.stride + c], a);
          }
          acc_rows[r][c] = a;
        }
      }
    }
  }
  for (int64_t r = 0; r < i1 - i0; ++r) {
    for (int64_t c = 0; c < h.head_dim; ++c) {
      out[(i0 + r) * out_stride + c] = acc[r * dim16 + c] / run_sum[r];
    }
  }
}

// One (sequence, head); scratch: attention_scratch_per_thread(len, head_dim) floats, 64-byte
// aligned.
template <typename Tiles>
void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch,
                    const ScoreMods& mods) {
  constexpr int kRows = Tiles::kRows;
  static_assert(kRows <= kAttentionScoreRows, "the scratch holds kAttentionScoreRows score rows");
  static_assert(kKtKeys % Tiles::kPanel == 0 && Tiles::kPanel % Tiles::kKeys == 0,
                "K is padded to whole panels of whole score tiles");
  const int64_t len_p = (len + kKtKeys - 1) & ~int64_t{kKtKeys - 1};
  const int64_t ld = attention_score_cols(len);
  const int64_t dim16 = (head_dim + 15) & ~int64_t{15};
  float* kt = scratch;                             // len_p keys of transposed K
  float* vc = kt + len_p * head_dim;               // V's rows [0, len), head_dim apart
  float* scores = vc + len_p * head_dim;           // [kRows][ld]
  float* acc = scores + kAttentionScoreRows * ld;  // [dim16]
  float* state = acc + dim16;                      // online softmax, long sequences only
  transpose_k<Tiles>(k, stride, len, head_dim, kt);
  // P.V reads a whole V row per key, and every query block reads them all again. In place they lie
  // a row of Q, K and V for every head apart (9 KiB in a 768-wide model), a stride the hardware's
  // stride prefetcher does not follow; copied, they are one sequential stream (a nomic-embed-text
  // shape on 2,048-token texts: attention -38% with the tiles above). A short sequence's rows are
  // read by one or two query blocks from L2, where the copy only costs (STS-B sentences: +3%), so
  // they stay in place. Same values, same order of operations: the same bits either way.
  const bool copy_v = len >= kCopyVKeys;
  if (copy_v) {
    for (int64_t j = 0; j < len; ++j) {
      for (int64_t c = 0; c < head_dim; ++c) vc[j * head_dim + c] = v[j * stride + c];
    }
  }
  const HeadArgs h{
      copy_v ? vc : v,         copy_v ? head_dim : stride, len, head_dim, kt, scores, ld, mods,
      mods.scale_for(head_dim)};

  for (int64_t i = 0; i < len;) {
    const int rows = static_cast<int>(len - i < kRows ? len - i : kRows);
    // Keys [first, last) are the ones this block's queries see (all of them without a window).
    const int64_t first = mods.first_key(i), last = mods.last_key(i + rows, len);
    if (last - first > kAttentionTwoPassKeys) {
      const int64_t end = len - i < kAttentionStateRows ? len : i + kAttentionStateRows;
      online_rows<Tiles>(h, q, stride, out, out_stride, i, end, state);
      i = end;
      continue;
    }
    const float* q_rows[kRows];
    float* out_rows[kRows];
    for (int r = 0; r < kRows; ++r) {
      // Missing rows of the last block repeat the first one; their results are dropped.
      q_rows[r] = q + (i + (r < rows ? r : 0)) * stride;
      out_rows[r] = out + (i + (r < rows ? r : 0)) * out_stride;
    }
    two_pass_block<Tiles>(h, q_rows, out_rows, rows, i, first, last, acc);
    i += kRows;
  }
}

}  // namespace
}  // namespace embedrt::kernels::attention_driver
