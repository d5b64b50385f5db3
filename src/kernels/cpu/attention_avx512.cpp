#include "kernels/cpu/attention.h"
#include "kernels/cpu/wide_simd.h"

namespace embedrt::kernels::avx512 {

void attention_head(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                    int64_t head_dim, float* out, int64_t out_stride, float* scratch,
                    const ScoreMods& mods) {
  wide::attention_head(q, k, v, stride, len, head_dim, out, out_stride, scratch, mods);
}

}  // namespace embedrt::kernels::avx512
