// Attention in bf16 on AMX's tile unit (attention_amx.cpp), for AttentionArgs::bf16.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/attention.h"

namespace embedrt::kernels::amx {

// The CPU has AMX-TILE, AMX-BF16 and AVX512-BF16, the OS saves the tile state and has let this
// process use it. Checked once.
bool available() noexcept;
// Head sizes the kernel takes: multiples of 32 up to 512.
bool supports(int64_t head_dim) noexcept;
// Bytes of scratch one thread needs for sequences up to max_len tokens (64-byte aligned).
size_t scratch_bytes(int64_t max_len, int64_t head_dim);
// One (sequence, head), as the other attention_head functions; only where available() and
// supports(head_dim).
void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, void* scratch,
                    const ScoreMods& mods);

}  // namespace embedrt::kernels::amx
