// Row-wise softmax with the attention scale folded in.
#pragma once

#include <cstdint>

namespace embedrt::kernels {

// For each row r < rows: x[r] = softmax(scale * x[r]) over `cols`, max-subtracted for range.
void scaled_softmax(float* x, int64_t rows, int64_t cols, float scale);

namespace scalar {
void scaled_softmax_row(float* x, int64_t cols, float scale);
}
namespace avx2 {
void scaled_softmax_row(float* x, int64_t cols, float scale);
}
namespace avx512 {
void scaled_softmax_row(float* x, int64_t cols, float scale);
}

}  // namespace embedrt::kernels
