#include "kernels/cpu/softmax.h"
#include "kernels/cpu/wide_simd.h"

namespace embedrt::kernels::avx512 {

void scaled_softmax_row(float* x, int64_t cols, float scale) {
  wide::scaled_softmax_row(x, cols, scale);
}

}  // namespace embedrt::kernels::avx512
