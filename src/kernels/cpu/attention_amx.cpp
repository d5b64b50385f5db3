// Attention for one (sequence, head) on AMX, for the bf16 and int8 modes: the scores from Q and
// K each split into two bf16 parts (about 16 significant bits), V and the softmax weights rounded
// to bf16 (round to nearest even), every product summed in fp32 by the tile unit (TDPBF16PS), the
// softmax itself in fp32 with the AVX-512 code of the fp32 kernel. Built with AMX flags; like the
// other per-ISA files it has internal linkage only and is called only where amx::available() says
// the CPU and the OS allow it.
//
// Per block of 16 query rows: all scores of the keys the block sees ([16][keys] fp32, in L2 up to
// several thousand keys), the softmax row by row, the weights to bf16, then P.V. K and V are
// packed once per head in the tile unit's pair layout (two consecutive reduction elements side by
// side in 32 bits): K as [head_dim / 2][keys][2], V as [keys / 2][head_dim][2]. Each sequence is
// computed alone, in the same blocks whatever else the batch holds, so results stay
// batch-invariant.
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/attention_amx.h"
#include "kernels/cpu/wide_simd.h"

namespace embedrt::kernels::amx {
namespace {

constexpr int kBlockRows = 16;        // query rows per block: a tile's rows
constexpr int64_t kKeyStep = 32;      // keys per A tile of P (and per pair-row group of V)
constexpr int64_t kDimStep = 32;      // head_dim per A tile of Q
constexpr int64_t kMaxHeadDim = 512;  // pack_k's row buffers

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Every tile 16 rows of 64 bytes (16 fp32, or 32 bf16, or 16 bf16 pairs).
const TileConfig& full_tiles() {
  static const TileConfig config = [] {
    TileConfig c;
    for (int t = 0; t < 8; ++t) {
      c.rows[t] = 16;
      c.colsb[t] = 64;
    }
    return c;
  }();
  return config;
}

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// 16 floats to bf16, rounded to nearest even.
__m256i cvt16(__m512 x) { return (__m256i)_mm512_cvtneps_pbh(x); }
__m256i cvt16(const float* x) { return cvt16(_mm512_loadu_ps(x)); }

// 16 floats as hi + lo, both bf16: hi the rounded value, lo the rounded rest. Their products with
// another such pair, less lo * lo, carry about 16 significant bits, against bf16's 8.
void split16(const float* x, __m256i& hi, __m256i& lo) {
  const __m512 v = _mm512_loadu_ps(x);
  hi = cvt16(v);
  // The masked forms: GCC 12's unmasked ones start from an undefined vector and warn about it.
  const __m512i wide = _mm512_maskz_cvtepu16_epi32(0xffff, hi);
  const __m512 back = _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xffff, wide, 16));
  lo = cvt16(_mm512_sub_ps(v, back));
}

// Per-thread scratch, all 64-byte aligned: K (hi and lo parts) and V packed, the block's Q (hi
// and lo), scores, weights and output tile.
struct Layout {
  int64_t keys;   // len rounded up to kKeyStep
  uint16_t* k;    // [head_dim / 2][keys][2]
  uint16_t* klo;  // as k
  uint16_t* v;    // [keys / 2][head_dim][2]
  uint16_t* q;    // [16][head_dim]
  uint16_t* qlo;  // as q
  float* s;       // [16][keys]
  uint16_t* p;    // [16][keys]
  float* o;       // [16][64]
};

size_t layout_bytes(int64_t len, int64_t head_dim) {
  const int64_t keys = round_up(len > 0 ? len : 1, kKeyStep);
  return size_t(3 * keys * head_dim * 2 + 2 * kBlockRows * head_dim * 2 + kBlockRows * keys * 4 +
                kBlockRows * keys * 2 + kBlockRows * 64 * 4 + 8 * 64);
}

Layout make_layout(void* scratch, int64_t len, int64_t head_dim) {
  char* at = static_cast<char*>(scratch);
  const auto take = [&](size_t bytes) {
    char* p = at;
    at += (bytes + 63) & ~size_t{63};
    return p;
  };
  Layout l;
  l.keys = round_up(len, kKeyStep);
  l.k = reinterpret_cast<uint16_t*>(take(size_t(l.keys * head_dim) * 2));
  l.klo = reinterpret_cast<uint16_t*>(take(size_t(l.keys * head_dim) * 2));
  l.v = reinterpret_cast<uint16_t*>(take(size_t(l.keys * head_dim) * 2));
  l.q = reinterpret_cast<uint16_t*>(take(size_t(kBlockRows * head_dim) * 2));
  l.qlo = reinterpret_cast<uint16_t*>(take(size_t(kBlockRows * head_dim) * 2));
  l.s = reinterpret_cast<float*>(take(size_t(kBlockRows * l.keys) * 4));
  l.p = reinterpret_cast<uint16_t*>(take(size_t(kBlockRows * l.keys) * 2));
  l.o = reinterpret_cast<float*>(take(size_t(kBlockRows * 64) * 4));
  return l;
}

// K rows [0, len) as pairs, hi and lo parts: the 32-bit unit (c / 2, j) holds K[j][c],
// K[j][c + 1]. Keys from len to l.keys are zero. 16 keys at a time: their rows split into units,
// then 16 x 16 blocks of units transposed through registers (wide::transpose_16x16 moves 32-bit
// lanes; no arithmetic touches them).
void pack_k(const float* k, int64_t stride, int64_t len, int64_t head_dim, const Layout& l) {
  const int64_t pairs = head_dim / 2;
  alignas(64) uint16_t rows[2][16][kMaxHeadDim];  // [hi, lo][key][c]
  for (int64_t j0 = 0; j0 < l.keys; j0 += 16) {
    for (int r = 0; r < 16; ++r) {
      for (int64_t c = 0; c < head_dim; c += 16) {
        __m256i hi = _mm256_setzero_si256(), lo = _mm256_setzero_si256();
        if (j0 + r < len) split16(k + (j0 + r) * stride + c, hi, lo);
        _mm256_store_si256(reinterpret_cast<__m256i*>(&rows[0][r][c]), hi);
        _mm256_store_si256(reinterpret_cast<__m256i*>(&rows[1][r][c]), lo);
      }
    }
    for (int part = 0; part < 2; ++part) {
      float* dst = reinterpret_cast<float*>(part == 0 ? l.k : l.klo);
      for (int64_t p = 0; p < pairs; p += 16) {
        // Units [p, p + 16) of the 16 keys: rows kMaxHeadDim bf16 (half as many units) apart.
        wide::transpose_16x16(reinterpret_cast<const float*>(&rows[part][0][0]) + p,
                              kMaxHeadDim / 2, dst + p * l.keys + j0, l.keys);
      }
    }
  }
}

// V rows as pairs of keys: the 32-bit unit (t / 2, c) holds V[t][c], V[t + 1][c]; rows from len
// to l.keys are zero.
void pack_v(const float* v, int64_t stride, int64_t len, int64_t head_dim, const Layout& l) {
  // Lane 2i takes the first row's element i, lane 2i + 1 the second row's.
  alignas(64) static constexpr uint16_t kInterleave[32] = {
      0, 32, 1, 33, 2,  34, 3,  35, 4,  36, 5,  37, 6,  38, 7,  39,
      8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
  const __m512i order = _mm512_load_si512(kInterleave);
  for (int64_t t = 0; t < l.keys; t += 2) {
    uint16_t* dst = l.v + (t / 2) * head_dim * 2;
    for (int64_t c = 0; c < head_dim; c += 16) {
      const __m256i a = t < len ? cvt16(v + t * stride + c) : _mm256_setzero_si256();
      const __m256i b = t + 1 < len ? cvt16(v + (t + 1) * stride + c) : _mm256_setzero_si256();
      const __m512i pairs =
          _mm512_permutex2var_epi16(_mm512_castsi256_si512(a), order, _mm512_castsi256_si512(b));
      _mm512_store_si512(dst + c * 2, pairs);
    }
  }
}

// scores[r][j - j0] = q_r . k_j for keys [j0, j1) (multiples of 32) and the block's 16 rows, as
// q_hi k_hi + q_hi k_lo + q_lo k_hi: a softmax turns a score's absolute error into its weight's
// relative error, and scores of a few tens (real models' before scaling) rounded through bf16
// alone cost all-mpnet-base-v2 on ~122-token texts a min cosine of 0.9987 against fp32.
void block_scores(const Layout& l, int64_t head_dim, int64_t j0, int64_t j1) {
  const int64_t q_stride = head_dim * 2, k_stride = l.keys * 4, s_stride = l.keys * 4;
  for (int64_t j = j0; j < j1; j += kKeyStep) {
    _tile_zero(0);
    _tile_zero(1);
    for (int64_t c = 0; c < head_dim; c += kDimStep) {
      _tile_loadd(2, l.q + c, q_stride);
      _tile_loadd(5, l.qlo + c, q_stride);
      const int64_t at = ((c / 2) * l.keys + j) * 2;
      _tile_loadd(3, l.k + at, k_stride);
      _tile_loadd(4, l.k + at + 32, k_stride);
      _tile_loadd(6, l.klo + at, k_stride);
      _tile_loadd(7, l.klo + at + 32, k_stride);
      _tile_dpbf16ps(0, 2, 3);
      _tile_dpbf16ps(1, 2, 4);
      _tile_dpbf16ps(0, 2, 6);
      _tile_dpbf16ps(1, 2, 7);
      _tile_dpbf16ps(0, 5, 3);
      _tile_dpbf16ps(1, 5, 4);
    }
    _tile_stored(0, l.s + (j - j0), s_stride);
    _tile_stored(1, l.s + (j - j0) + 16, s_stride);
  }
}

// out rows [0, rows) += P[16][keys j0..j1) . V over head_dim columns [d0, d0 + 16 * n), n <= 4.
template <int n>
void block_values(const Layout& l, int64_t head_dim, int64_t j0, int64_t j1, int64_t d0) {
  const int64_t p_stride = l.keys * 2, v_stride = head_dim * 4;
  _tile_zero(0);
  if constexpr (n > 1) _tile_zero(1);
  if constexpr (n > 2) _tile_zero(2);
  if constexpr (n > 3) _tile_zero(3);
  for (int64_t t = j0; t < j1; t += kKeyStep) {
    _tile_loadd(4, l.p + (t - j0), p_stride);
    const uint16_t* vb = l.v + ((t / 2) * head_dim + d0) * 2;
    _tile_loadd(5, vb, v_stride);
    _tile_dpbf16ps(0, 4, 5);
    if constexpr (n > 1) {
      _tile_loadd(6, vb + 32, v_stride);
      _tile_dpbf16ps(1, 4, 6);
    }
    if constexpr (n > 2) {
      _tile_loadd(7, vb + 64, v_stride);
      _tile_dpbf16ps(2, 4, 7);
    }
    if constexpr (n > 3) {
      _tile_loadd(5, vb + 96, v_stride);
      _tile_dpbf16ps(3, 4, 5);
    }
  }
  _tile_stored(0, l.o, 64 * 4);
  if constexpr (n > 1) _tile_stored(1, l.o + 16, 64 * 4);
  if constexpr (n > 2) _tile_stored(2, l.o + 32, 64 * 4);
  if constexpr (n > 3) _tile_stored(3, l.o + 48, 64 * 4);
}

bool detect() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool amx_bf16 = (edx >> 22) & 1, amx_tile = (edx >> 24) & 1;
  if (!amx_bf16 || !amx_tile) return false;
  if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) || !((eax >> 5) & 1)) return false;  // BF16
  // The OS must save the tile state (XCR0 bits 17 and 18) and let this process use it.
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & (3u << 17)) != (3u << 17)) return false;
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

}  // namespace

bool available() noexcept {
  static const bool yes = detect();
  return yes;
}

bool supports(int64_t head_dim) noexcept {
  return head_dim > 0 && head_dim % kDimStep == 0 && head_dim <= kMaxHeadDim;
}

size_t scratch_bytes(int64_t max_len, int64_t head_dim) { return layout_bytes(max_len, head_dim); }

void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, void* scratch,
                    const ScoreMods& mods) {
  const Layout l = make_layout(scratch, len, head_dim);
  _tile_loadconfig(&full_tiles());
  pack_k(k, stride, len, head_dim, l);
  pack_v(v, stride, len, head_dim, l);
  const float scale = mods.scale_for(head_dim);
  for (int64_t i0 = 0; i0 < len; i0 += kBlockRows) {
    const int rows = static_cast<int>(len - i0 < kBlockRows ? len - i0 : kBlockRows);
    for (int r = 0; r < kBlockRows; ++r) {
      uint16_t* dst = l.q + r * head_dim;
      uint16_t* dst_lo = l.qlo + r * head_dim;
      for (int64_t c = 0; c < head_dim; c += 16) {
        __m256i hi = _mm256_setzero_si256(), lo = _mm256_setzero_si256();
        if (r < rows) split16(q + (i0 + r) * stride + c, hi, lo);
        _mm256_store_si256(reinterpret_cast<__m256i*>(dst + c), hi);
        _mm256_store_si256(reinterpret_cast<__m256i*>(dst_lo + c), lo);
      }
    }
    const int64_t first = mods.first_key(i0), last = mods.last_key(i0 + rows, len);
    const int64_t j0 = first / kKeyStep * kKeyStep, j1 = round_up(last, kKeyStep);
    block_scores(l, head_dim, j0, j1);
    for (int r = 0; r < kBlockRows; ++r) {
      float* row = l.s + r * l.keys;
      uint16_t* weights = l.p + r * l.keys;
      if (r >= rows) {  // rows past the sequence weigh 0
        std::memset(weights, 0, size_t(j1 - j0) * 2);
        continue;
      }
      const int64_t lo = mods.first_key(i0 + r), hi = mods.last_key(i0 + r + 1, len);
      attention_driver::softmax_seen<wide::AttentionTiles>(row + (lo - j0), i0 + r, lo, hi, mods,
                                                           scale);
      // Keys outside what the row sees weigh 0: their scores are set to 0 before the conversion.
      for (int64_t j = j0; j < lo; ++j) row[j - j0] = 0.0f;
      for (int64_t j = hi; j < j1; ++j) row[j - j0] = 0.0f;
      for (int64_t j = 0; j < j1 - j0; j += 16) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(weights + j), cvt16(row + j));
      }
    }
    for (int64_t d0 = 0; d0 < head_dim; d0 += 64) {
      const int64_t n = head_dim - d0 >= 64 ? 4 : (head_dim - d0) / 16;
      if (n == 4) {
        block_values<4>(l, head_dim, j0, j1, d0);
      } else {
        block_values<2>(l, head_dim, j0, j1, d0);  // head_dim % 32 == 0: 32 columns left
      }
      // Vector copies: memcpy's rep movsq cost 10% of a 122-token head in start-up alone.
      for (int r = 0; r < rows; ++r) {
        float* dst = out + (i0 + r) * out_stride + d0;
        for (int64_t x = 0; x < n; ++x) {
          _mm512_storeu_ps(dst + 16 * x, _mm512_load_ps(l.o + r * 64 + 16 * x));
        }
      }
    }
  }
  _tile_release();
}

}  // namespace embedrt::kernels::amx
