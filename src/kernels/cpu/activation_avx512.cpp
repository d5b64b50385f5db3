#include "kernels/cpu/activation.h"
#include "kernels/cpu/wide_simd.h"

namespace embedrt::kernels::avx512 {

void apply_activation(Activation act, float* x, int64_t n) { wide::apply_activation(act, x, n); }

}  // namespace embedrt::kernels::avx512
