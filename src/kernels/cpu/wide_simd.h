// 16-lane versions of the vector kernels (LayerNorm, RMSNorm, softmax, activations, attention),
// written with GCC vector extensions instead of intrinsics. The *_avx512.cpp files compile them to
// zmm code; the tests also build them with AVX2 flags, where GCC splits each vector into two ymm
// halves, so the AVX-512 algorithm can be checked on machines without AVX-512.
//
// Everything lives in an unnamed namespace: translation units that include this header are built
// with different -m flags, and shared (COMDAT) definitions would let the linker keep any one of
// them, possibly one with instructions the running CPU lacks. For the same reason this header
// calls no std:: function templates or inline functions, only compiler builtins.
#pragma once

#include <cstdint>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/attention_driver.h"
#include "kernels/cpu/erf_fit.h"

// Passing 64-byte vectors by value changes the ABI when AVX-512 is off; every function here has
// internal linkage, so no call crosses a translation unit and the warning does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace embedrt::kernels::wide {
namespace {

constexpr int kLanes = 16;

typedef float f32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef double f64x8 __attribute__((vector_size(64)));

constexpr i32x16 kLaneIndex = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

// Not f32x16{} + v: adding +0.0 is no identity in IEEE (-0 + 0 = +0), so GCC would emit the add.
inline f32x16 splat(float v) { return f32x16{v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v}; }
inline f32x16 as_float(i32x16 v) { return (f32x16)v; }
inline i32x16 as_int(f32x16 v) { return (i32x16)v; }

inline f32x16 load(const float* p) {
  f32x16 v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

inline void store(float* p, f32x16 v) { __builtin_memcpy(p, &v, sizeof(v)); }

// Loads the first n (< kLanes) floats, the rest filled with `fill`; never reads past p[n - 1].
// Unrolled over all lanes with a condition rather than looping to n, which GCC would turn into a
// memcpy call that clobbers every vector register.
inline f32x16 load_partial(const float* p, int n, float fill) {
  f32x16 v = splat(fill);
#pragma GCC unroll 16
  for (int i = 0; i < kLanes; ++i) {
    if (i < n) v[i] = p[i];
  }
  return v;
}

inline void store_partial(float* p, f32x16 v, int n) {
#pragma GCC unroll 16
  for (int i = 0; i < kLanes; ++i) {
    if (i < n) p[i] = v[i];
  }
}

// Vector extensions have no fused multiply-add operator; GCC turns these lane loops into one
// vfmadd per vector. Spelled out rather than left to -ffp-contract, so that every score and output
// element is a single FMA chain whatever the compiler decides to contract.
inline f32x16 fmadd(f32x16 a, f32x16 b, f32x16 c) {
  f32x16 r;
  for (int i = 0; i < kLanes; ++i) r[i] = __builtin_fmaf(a[i], b[i], c[i]);
  return r;
}

inline f64x8 fmadd(f64x8 a, f64x8 b, f64x8 c) {
  f64x8 r;
  for (int i = 0; i < 8; ++i) r[i] = __builtin_fma(a[i], b[i], c[i]);
  return r;
}

// Round half to even, like _mm256_round_ps(_MM_FROUND_TO_NEAREST_INT) in the AVX2 exp.
inline f32x16 round_nearest(f32x16 x) {
  f32x16 r;
  for (int i = 0; i < kLanes; ++i) r[i] = __builtin_rintf(x[i]);
  return r;
}

// Written as x > y ? x : y so that GCC emits (v)maxps/(v)minps with the same NaN and signed-zero
// behaviour as _mm256_max_ps(x, y) / _mm256_min_ps(x, y).
inline f32x16 max(f32x16 x, f32x16 y) { return x > y ? x : y; }
inline f32x16 min(f32x16 x, f32x16 y) { return x < y ? x : y; }

inline float horizontal_sum(f32x16 v) {
  const f32x8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                  __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const float b0 = (a[0] + a[4]) + (a[2] + a[6]);
  const float b1 = (a[1] + a[5]) + (a[3] + a[7]);
  return b0 + b1;
}

inline float horizontal_max(f32x16 v) {
  float m = v[0];
  for (int i = 1; i < kLanes; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

inline double horizontal_sum(f64x8 v) {
  return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

// exp(x) with the constants, clamping and polynomial of avx2_math::exp (Cephes expf): relative
// error below 2e-7 on [-87, 88]; inputs below -87.34 give 0, inputs above 88.38 are clamped.
inline f32x16 exp(f32x16 x) {
  const f32x16 max_x = splat(88.3762626647949f);
  const f32x16 min_x = splat(-87.3365478515625f);
  const i32x16 underflow = x < min_x;
  x = min(max(x, min_x), max_x);
  // x = n ln2 + r with |r| <= ln2/2, ln2 split in two parts for accuracy (Cephes).
  const f32x16 n = round_nearest(x * splat(1.44269504088896341f));
  f32x16 r = fmadd(-n, splat(0.693359375f), x);
  r = fmadd(-n, splat(-2.12194440e-4f), r);
  f32x16 p = splat(1.9875691500e-4f);
  p = fmadd(p, r, splat(1.3981999507e-3f));
  p = fmadd(p, r, splat(8.3334519073e-3f));
  p = fmadd(p, r, splat(4.1665795894e-2f));
  p = fmadd(p, r, splat(1.6666665459e-1f));
  p = fmadd(p, r, splat(5.0000001201e-1f));
  p = fmadd(p, r * r, r);
  p = p + splat(1.0f);
  const i32x16 e = (__builtin_convertvector(n, i32x16) + 127) << 23;
  const f32x16 y = p * as_float(e);
  return underflow ? splat(0.0f) : y;
}

// erf(x) by the rational fit in erf_fit.h, as avx2_math::erf.
inline f32x16 erf(f32x16 x) {
  x = min(max(x, splat(-erf_fit::kClamp)), splat(erf_fit::kClamp));
  const f32x16 x2 = x * x;
  f32x16 p = splat(erf_fit::kNumerator[0]);
#pragma GCC unroll 8
  for (int i = 1; i < erf_fit::kNumeratorTerms; ++i)
    p = fmadd(p, x2, splat(erf_fit::kNumerator[i]));
  f32x16 q = splat(erf_fit::kDenominator[0]);
#pragma GCC unroll 8
  for (int i = 1; i < erf_fit::kDenominatorTerms; ++i)
    q = fmadd(q, x2, splat(erf_fit::kDenominator[i]));
  return (p * x) / q;
}

// tanh(x) = 1 - 2 / (exp(2x) + 1), odd-symmetric so it stays accurate for negative x.
inline f32x16 tanh(f32x16 x) {
  const i32x16 sign = as_int(x) & INT32_MIN;
  const f32x16 z = as_float(as_int(x) & INT32_MAX);
  const f32x16 one = splat(1.0f);
  const f32x16 e = exp(splat(-2.0f) * z);
  return as_float(as_int((one - e) / (one + e)) | sign);
}

// ---------------------------------------------------------------------------------------------
// LayerNorm with residual: see kernels::add_layer_norm.

inline f32x16 load_sum(const float* x, const float* residual, int64_t c) {
  const f32x16 v = load(x + c);
  return residual ? v + load(residual + c) : v;
}

inline void add_layer_norm_row(const float* x, const float* residual, const float* gamma,
                               const float* beta, float eps, int64_t cols, float* out) {
  // One pass: sum and sum of squares, accumulated in double so that E[x^2] - E[x]^2 does not
  // cancel catastrophically when the mean is large against the spread.
  f64x8 sum0 = {}, sum1 = {}, sq0 = {}, sq1 = {};
  int64_t c = 0;
  for (; c + kLanes <= cols; c += kLanes) {
    const f32x16 v = load_sum(x, residual, c);
    const f64x8 lo =
        __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7), f64x8);
    const f64x8 hi =
        __builtin_convertvector(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15), f64x8);
    sum0 += lo;
    sum1 += hi;
    sq0 = fmadd(lo, lo, sq0);
    sq1 = fmadd(hi, hi, sq1);
  }
  double sum = horizontal_sum(sum0 + sum1);
  double sq = horizontal_sum(sq0 + sq1);
  for (int64_t t = c; t < cols; ++t) {
    const double v = x[t] + (residual ? residual[t] : 0.0f);
    sum += v;
    sq += v * v;
  }
  const double mean = sum / double(cols);
  const double diff = sq / double(cols) - mean * mean;
  const double var = diff > 0.0 ? diff : 0.0;
  const float inv_std = static_cast<float>(1.0 / __builtin_sqrt(var + double(eps)));
  const float mean_f = static_cast<float>(mean);
  // (v - mean) * inv_std rather than v * inv_std - mean * inv_std: with a tiny variance inv_std
  // is huge and the folded form would cancel catastrophically.
  const f32x16 scale_v = splat(inv_std);
  const f32x16 mean_v = splat(mean_f);
  for (c = 0; c + kLanes <= cols; c += kLanes) {
    const f32x16 n = (load_sum(x, residual, c) - mean_v) * scale_v;
    store(out + c, fmadd(n, load(gamma + c), load(beta + c)));
  }
  for (; c < cols; ++c) {
    const float v = x[c] + (residual ? residual[c] : 0.0f);
    out[c] = __builtin_fmaf((v - mean_f) * inv_std, gamma[c], beta[c]);
  }
}

// RMSNorm: see kernels::rms_norm. Squares summed in double lanes (exact squares, so only the order
// of the sum differs from the scalar row); x * inv rounded to fp32 before the gamma multiply and
// the add left unfused, as transformers computes it.
inline void rms_norm_row(const float* x, const float* gamma, float eps, int64_t cols, float* out,
                         const float* add) {
  f64x8 sq0 = {}, sq1 = {};
  int64_t c = 0;
  for (; c + kLanes <= cols; c += kLanes) {
    const f32x16 v = load(x + c);
    const f64x8 lo =
        __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7), f64x8);
    const f64x8 hi =
        __builtin_convertvector(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15), f64x8);
    sq0 = fmadd(lo, lo, sq0);
    sq1 = fmadd(hi, hi, sq1);
  }
  double squares = horizontal_sum(sq0 + sq1);
  for (int64_t t = c; t < cols; ++t) squares += double(x[t]) * double(x[t]);
  const float inv = static_cast<float>(1.0 / __builtin_sqrt(squares / double(cols) + double(eps)));
  const f32x16 inv_v = splat(inv);
  for (c = 0; c + kLanes <= cols; c += kLanes) {
    f32x16 y = (load(x + c) * inv_v) * load(gamma + c);
    if (add) y = load(add + c) + y;
    store(out + c, y);
  }
  for (; c < cols; ++c) {
    const float y = (x[c] * inv) * gamma[c];
    out[c] = add ? add[c] + y : y;
  }
}

// ---------------------------------------------------------------------------------------------
// Softmax: see kernels::scaled_softmax.

inline void scaled_softmax_row(float* x, int64_t cols, float scale) {
  const float lowest = -__builtin_inff();
  const int64_t full = cols & ~int64_t{kLanes - 1};
  const int rest = static_cast<int>(cols - full);
  f32x16 max_v = splat(lowest);
  for (int64_t c = 0; c < full; c += kLanes) max_v = max(max_v, load(x + c));
  if (rest) max_v = max(max_v, load_partial(x + full, rest, lowest));
  // scale > 0, so max(scale * x) = scale * max(x).
  const f32x16 shift = splat(-horizontal_max(max_v) * scale);
  const f32x16 scale_v = splat(scale);
  f32x16 sum_v = {};
  for (int64_t c = 0; c < full; c += kLanes) {
    const f32x16 e = exp(fmadd(load(x + c), scale_v, shift));
    store(x + c, e);
    sum_v += e;
  }
  if (rest) {
    const f32x16 e = exp(fmadd(load_partial(x + full, rest, 0.0f), scale_v, shift));
    store_partial(x + full, e, rest);
    sum_v += kLaneIndex < rest ? e : splat(0.0f);
  }
  const float inv = 1.0f / horizontal_sum(sum_v);
  const f32x16 inv_v = splat(inv);
  for (int64_t c = 0; c < full; c += kLanes) store(x + c, load(x + c) * inv_v);
  for (int64_t c = full; c < cols; ++c) x[c] *= inv;
}

// ---------------------------------------------------------------------------------------------
// Activations: see kernels::apply_activation.

template <Activation kAct>
inline f32x16 activate(f32x16 x) {
  if constexpr (kAct == Activation::kGeluErf) {
    const f32x16 e = erf(x * splat(0.70710678118654752f));
    return (splat(0.5f) * x) * (splat(1.0f) + e);
  } else if constexpr (kAct == Activation::kGeluTanh) {
    const f32x16 x3 = (x * x) * x;
    const f32x16 inner = splat(0.79788456080286536f) * fmadd(splat(0.044715f), x3, x);
    return (splat(0.5f) * x) * (splat(1.0f) + tanh(inner));
  } else if constexpr (kAct == Activation::kRelu) {
    return max(x, splat(0.0f));
  } else if constexpr (kAct == Activation::kSilu) {
    return x / (splat(1.0f) + exp(splat(0.0f) - x));
  } else {
    return x;
  }
}

template <Activation kAct>
inline void apply(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) store(x + i, activate<kAct>(load(x + i)));
  if (i < n) {
    const int rest = static_cast<int>(n - i);
    store_partial(x + i, activate<kAct>(load_partial(x + i, rest, 0.0f)), rest);
  }
}

inline void apply_activation(Activation act, float* x, int64_t n) {
  switch (act) {
    case Activation::kNone:
      return;
    case Activation::kGeluErf:
      return apply<Activation::kGeluErf>(x, n);
    case Activation::kGeluTanh:
      return apply<Activation::kGeluTanh>(x, n);
    case Activation::kRelu:
      return apply<Activation::kRelu>(x, n);
    case Activation::kSilu:
      return apply<Activation::kSilu>(x, n);
  }
}

// ---------------------------------------------------------------------------------------------
// Attention for one (sequence, head): see kernels::attention and attention_avx2.cpp, which this
// follows with 16 lanes.

// Query rows handled together: their scores share every load of K, and their P.V every load of V.
// Six rows by four vectors (64 keys, or 64 columns of V) is 24 accumulators and ten loads per 24
// FMAs; four rows by two vectors (scores) and by four (P.V) took 6 loads per 8 FMAs and 8 per 16.
constexpr int kRows = 6;
static_assert(kRows <= kAttentionScoreRows, "the scratch holds kAttentionScoreRows score rows");
static_assert(kAttentionStateRows % kRows == 0, "the online state holds whole query blocks");
// Keys per panel of the transposed K: key j, column c is at panel j / kPanel, [c][j % kPanel], so
// a score tile's loads are sequential and a key block's panels contiguous whatever the length.
constexpr int64_t kPanel = 2 * kLanes;

// acc[r][x] += sum_t a[r][t] * b[t * b_stride + x * kLanes] for t < count: every element one FMA
// chain over t in order. Both attention products are this with other operands. Fully unrolled so
// that the accumulators stay in registers; GCC's own limits stop short.
template <int kVectors>
[[gnu::always_inline]] inline void accumulate_outer_products(const float* const* a, const float* b,
                                                             int64_t b_stride, int64_t count,
                                                             f32x16 (&acc)[kRows][kVectors]) {
  for (int64_t t = 0; t < count; ++t) {
    f32x16 bt[kVectors];
#pragma GCC unroll 16
    for (int x = 0; x < kVectors; ++x) bt[x] = load(b + t * b_stride + x * kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < kRows; ++r) {
      const f32x16 w = splat(a[r][t]);
#pragma GCC unroll 16
      for (int x = 0; x < kVectors; ++x) acc[r][x] = fmadd(w, bt[x], acc[r][x]);
    }
  }
}

// scores[r][j - j0 .. + kVectors * kLanes) = q_r . k_j for r < kRows, rows ld apart; the tile
// lies within one panel, or (kVectors 4) is two whole panels side by side. Every score is one FMA
// chain over c in order, so neither the grouping of rows nor the tile a key falls in changes its
// bits.
template <int kVectors>
inline void score_tile(const float* const* q, const float* kt, int64_t head_dim, int64_t j,
                       float* scores, int64_t ld, int64_t j0) {
  static_assert(kVectors <= 2 || kVectors * kLanes == 2 * kPanel, "a tile spans 1 or 2 panels");
  f32x16 acc[kRows][kVectors] = {};
  const float* panel = kt + (j / kPanel) * head_dim * kPanel + j % kPanel;
  const float* second = panel + head_dim * kPanel;  // the next panel (kVectors 4 only)
  const float* qr[kRows];
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) qr[r] = q[r];
  for (int64_t c = 0; c < head_dim; ++c) {
    f32x16 kc[kVectors];
#pragma GCC unroll 4
    for (int x = 0; x < kVectors; ++x) {
      kc[x] = load((x < 2 ? panel : second) + c * kPanel + (x % 2) * kLanes);
    }
#pragma GCC unroll 16
    for (int r = 0; r < kRows; ++r) {
      const f32x16 w = splat(qr[r][c]);
#pragma GCC unroll 4
      for (int x = 0; x < kVectors; ++x) acc[r][x] = fmadd(w, kc[x], acc[r][x]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 16
    for (int x = 0; x < kVectors; ++x) store(scores + r * ld + (j - j0) + x * kLanes, acc[r][x]);
  }
}

// The long sequences' tiles as calls of their own: inlined into the attention driver, GCC kept 4
// to 7 of their row pointers on the stack and reloaded them every k step (2,048 tokens, heads of
// 64: +7%; heads of 128: +11%), but a call per tile costs short sequences about 3%, so their
// tiles stay inline.
template <int kVectors>
[[gnu::noinline]] void score_tile_out_of_line(const float* const* q, const float* kt,
                                              int64_t head_dim, int64_t j, float* scores,
                                              int64_t ld, int64_t j0) {
  score_tile<kVectors>(q, kt, head_dim, j, scores, ld, j0);
}

// scores[r][j - j0] for r < kRows, j in [j0, end), both multiples of kLanes, end - j0 <= ld
// (zero-padded K columns give 0): two panels (64 keys) per tile while they last.
inline void block_scores(const float* const* q, const float* kt, int64_t head_dim, float* scores,
                         int64_t ld, int64_t j0, int64_t end) {
  int64_t j = j0;
  if (j % kPanel != 0 && j < end) {
    score_tile<1>(q, kt, head_dim, j, scores, ld, j0);
    j += kLanes;
  }
  for (; j + 2 * kPanel <= end; j += 2 * kPanel) {
    score_tile_out_of_line<4>(q, kt, head_dim, j, scores, ld, j0);
  }
  for (; j + kPanel <= end; j += kPanel) score_tile<2>(q, kt, head_dim, j, scores, ld, j0);
  if (j < end) score_tile<1>(q, kt, head_dim, j, scores, ld, j0);
}

// out_r[c0, c0 + kVectors * kLanes) = init_r * alpha_r + sum_t p_r[t] v_t for r < rows (init
// nullptr: 0), with the accumulators in registers (6 x 4 zmm at most, of 32). Each element is one
// FMA chain over t in order, like the generic path. Rows past `rows` repeat row 0 and are not
// stored.
template <int kVectors>
inline void weighted_values_tile(const float* const* p, const float* v, int64_t stride,
                                 int64_t count, int rows, const float* const* init,
                                 const float* alpha, float* const* out, int64_t c0) {
  f32x16 acc[kRows][kVectors] = {};
  if (init) {
#pragma GCC unroll 16
    for (int r = 0; r < kRows; ++r) {
      if (r >= rows) break;
#pragma GCC unroll 16
      for (int x = 0; x < kVectors; ++x)
        acc[r][x] = load(init[r] + c0 + x * kLanes) * splat(alpha[r]);
    }
  }
  accumulate_outer_products<kVectors>(p, v + c0, stride, count, acc);
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
    if (r >= rows) break;
#pragma GCC unroll 16
    for (int x = 0; x < kVectors; ++x) store(out[r] + c0 + x * kLanes, acc[r][x]);
  }
}

// As score_tile_out_of_line: a call of its own for sums over many keys.
template <int kVectors>
[[gnu::noinline]] void weighted_values_tile_out_of_line(const float* const* p, const float* v,
                                                        int64_t stride, int64_t count, int rows,
                                                        const float* const* init,
                                                        const float* alpha, float* const* out,
                                                        int64_t c0) {
  weighted_values_tile<kVectors>(p, v, stride, count, rows, init, alpha, out, c0);
}

// Keys from which a P.V tile runs as a call of its own.
constexpr int64_t kOutOfLineKeys = 64;

// weighted_values_tile over the first dim_full (a multiple of kLanes) columns, 64 at a time: the
// rows' p is read once per tile, V's rows once per tile and block of rows.
inline void weighted_values(const float* const* p, int rows, const float* v, int64_t stride,
                            int64_t count, int64_t dim_full, const float* const* init,
                            const float* alpha, float* const* out) {
  int64_t c = 0;
  for (; c + 4 * kLanes <= dim_full; c += 4 * kLanes) {
    if (count >= kOutOfLineKeys) {
      weighted_values_tile_out_of_line<4>(p, v, stride, count, rows, init, alpha, out, c);
    } else {
      weighted_values_tile<4>(p, v, stride, count, rows, init, alpha, out, c);
    }
  }
  switch ((dim_full - c) / kLanes) {
    case 3:
      weighted_values_tile<3>(p, v, stride, count, rows, init, alpha, out, c);
      break;
    case 2:
      weighted_values_tile<2>(p, v, stride, count, rows, init, alpha, out, c);
      break;
    case 1:
      weighted_values_tile<1>(p, v, stride, count, rows, init, alpha, out, c);
      break;
    default:
      break;
  }
}

inline void weighted_values_generic(const float* p, int64_t ld_p, int rows, const float* v,
                                    int64_t stride, int64_t len, int64_t head_dim, float* acc,
                                    float* const* out) {
  const int64_t dim_full = head_dim & ~int64_t{kLanes - 1};
  const int64_t dim16 = (head_dim + kLanes - 1) & ~int64_t{kLanes - 1};
  for (int r = 0; r < rows; ++r) {
    const float* pr = p + r * ld_p;
    for (int64_t c = 0; c < dim16; c += kLanes) store(acc + c, splat(0.0f));
    for (int64_t t = 0; t < len; ++t) {
      const f32x16 w = splat(pr[t]);
      const float* vt = v + t * stride;
      int64_t c = 0;
      for (; c < dim_full; c += kLanes) store(acc + c, fmadd(w, load(vt + c), load(acc + c)));
      for (; c < head_dim; ++c) acc[c] = __builtin_fmaf(pr[t], vt[c], acc[c]);
    }
    for (int64_t c = 0; c < head_dim; ++c) out[r][c] = acc[c];
  }
}

// The largest of row[0, n), n a multiple of kLanes.
inline float row_max(const float* row, int64_t n) {
  f32x16 max_v = splat(-__builtin_inff());
  for (int64_t c = 0; c < n; c += kLanes) max_v = max(max_v, load(row + c));
  return horizontal_max(max_v);
}

// row[c] = exp(row[c] * scale + shift) for c < n (a multiple of kLanes); returns their sum.
inline float exp_row(float* row, int64_t n, float scale, float shift) {
  const f32x16 shift_v = splat(shift), scale_v = splat(scale);
  f32x16 sum_v = {};
  for (int64_t c = 0; c < n; c += kLanes) {
    const f32x16 e = exp(fmadd(load(row + c), scale_v, shift_v));
    store(row + c, e);
    sum_v += e;
  }
  return horizontal_sum(sum_v);
}

// One level of a 16 x 16 transpose held in 16 vectors: every element whose row and column differ
// in bit d trades places with the one at (row ^ d, column ^ d). The four levels d = 8, 4, 2, 1
// transpose the block; each is 16 two-source shuffles (vpermt2ps). __builtin_shufflevector (GCC
// 12 and clang) takes the lane indices as constants: lane l of row i keeps its own element or
// takes row i + d's (keep), and lane l of row i + d takes row i's or keeps its own (take).
template <int d>
constexpr int keep_lane(int l) {
  return (l & d) ? kLanes + l - d : l;
}
template <int d>
constexpr int take_lane(int l) {
  return (l & d) ? kLanes + l : l + d;
}

template <int d>
inline void transpose_level(f32x16 (&r)[16]) {
#pragma GCC unroll 16
  for (int i = 0; i < kLanes; ++i) {
    if (i & d) continue;
    const f32x16 a = r[i], b = r[i + d];
    r[i] = __builtin_shufflevector(
        a, b, keep_lane<d>(0), keep_lane<d>(1), keep_lane<d>(2), keep_lane<d>(3), keep_lane<d>(4),
        keep_lane<d>(5), keep_lane<d>(6), keep_lane<d>(7), keep_lane<d>(8), keep_lane<d>(9),
        keep_lane<d>(10), keep_lane<d>(11), keep_lane<d>(12), keep_lane<d>(13), keep_lane<d>(14),
        keep_lane<d>(15));
    r[i + d] = __builtin_shufflevector(
        a, b, take_lane<d>(0), take_lane<d>(1), take_lane<d>(2), take_lane<d>(3), take_lane<d>(4),
        take_lane<d>(5), take_lane<d>(6), take_lane<d>(7), take_lane<d>(8), take_lane<d>(9),
        take_lane<d>(10), take_lane<d>(11), take_lane<d>(12), take_lane<d>(13), take_lane<d>(14),
        take_lane<d>(15));
  }
}

// dst[c * ld_dst + r] = src[r * ld_src + c] for r, c < 16.
inline void transpose_16x16(const float* src, int64_t ld_src, float* dst, int64_t ld_dst) {
  f32x16 r[16];
#pragma GCC unroll 16
  for (int i = 0; i < kLanes; ++i) r[i] = load(src + i * ld_src);
  transpose_level<8>(r);
  transpose_level<4>(r);
  transpose_level<2>(r);
  transpose_level<1>(r);
#pragma GCC unroll 16
  for (int i = 0; i < kLanes; ++i) store(dst + i * ld_dst, r[i]);
}

// The vector tiles above, as the shared attention driver (attention_driver.h) takes them.
struct AttentionTiles {
  static constexpr int kRows = wide::kRows;
  static constexpr int64_t kKeys = wide::kLanes, kLanes = wide::kLanes, kPanel = wide::kPanel;
  static constexpr auto block_scores = &wide::block_scores;
  static constexpr auto softmax_row = &wide::scaled_softmax_row;
  static constexpr auto weighted_values = &wide::weighted_values;
  static constexpr auto weighted_values_generic = &wide::weighted_values_generic;
  static constexpr auto row_max = &wide::row_max;
  static constexpr auto exp_row = &wide::exp_row;
  static constexpr auto transpose_16x16 = &wide::transpose_16x16;
};

// scratch: attention_scratch_per_thread(len, head_dim) floats, 64-byte aligned.
inline void attention_head(const float* q, const float* k, const float* v, int64_t stride,
                           int64_t len, int64_t head_dim, float* out, int64_t out_stride,
                           float* scratch, const ScoreMods& mods = {}) {
  attention_driver::attention_head<AttentionTiles>(q, k, v, stride, len, head_dim, out, out_stride,
                                                   scratch, mods);
}

}  // namespace
}  // namespace embedrt::kernels::wide

#pragma GCC diagnostic pop
