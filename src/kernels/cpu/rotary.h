// Rotary position embeddings over packed sequences, and the gated-MLP combine (SwiGLU, GeGLU).
#pragma once

#include <cstdint>

#include "kernels/cpu/activation.h"

namespace embedrt::kernels {

// cos[p * dim/2 + k], sin[...] for positions p < positions and k < dim/2, computed in fp32 as
// transformers does: inv_freq[k] = 1 / base^(2k / dim) / inv_freq_divisor, angle = float(p) *
// inv_freq[k]. The divisor is 1 except for fixed NTK scaling (GTE), which also raises the base.
void rotary_tables(int64_t positions, int64_t dim, double base, float* cos, float* sin,
                   double inv_freq_divisor = 1.0);

struct RotaryArgs {
  // [total_tokens, row_stride] rows; the rotated heads start at column 0 (queries) and at
  // second_offset (keys), num_heads * head_dim columns each.
  float* x = nullptr;
  int64_t row_stride = 0;
  int64_t second_offset = 0;
  const int32_t* offsets = nullptr;  // num_seqs + 1 token offsets; positions restart at 0 in each
  int64_t num_seqs = 0;
  int64_t num_heads = 0;
  int64_t second_num_heads = 0;  // heads at second_offset (grouped-query keys); 0: num_heads
  int64_t head_dim = 0;
  int64_t dim = 0;             // rotated leading dimensions of each head (even)
  bool interleaved = false;    // pairs (2k, 2k+1) instead of (k, k + dim/2)
  const float* cos = nullptr;  // rotary_tables() for at least the longest sequence
  const float* sin = nullptr;
};

// Rotates queries and keys in place: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin).
void apply_rotary(const RotaryArgs& args);

// out[r, c] = act(x[r, c]) * x[r, inner + c] for c < inner; x is [rows, 2 * inner].
void gated_activation(Activation act, const float* x, int64_t rows, int64_t inner, float* out);

}  // namespace embedrt::kernels
