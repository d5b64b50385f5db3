#include "kernels/cpu/softmax.h"

#include <cmath>
#include <limits>

#include "kernels/cpu/cpu_features.h"

namespace embedrt::kernels {

void scaled_softmax(float* x, int64_t rows, int64_t cols, float scale) {
  const Isa isa = active_isa();
  const auto row_kernel = isa >= Isa::kAvx512 ? &avx512::scaled_softmax_row
                          : isa >= Isa::kAvx2 ? &avx2::scaled_softmax_row
                                              : &scalar::scaled_softmax_row;
#pragma omp parallel for schedule(static) if (rows * cols > 32768)
  for (int64_t r = 0; r < rows; ++r) row_kernel(x + r * cols, cols, scale);
}

namespace scalar {

void scaled_softmax_row(float* x, int64_t cols, float scale) {
  double max = -std::numeric_limits<double>::infinity();
  for (int64_t c = 0; c < cols; ++c) max = std::max(max, double(x[c]) * scale);
  double sum = 0;
  for (int64_t c = 0; c < cols; ++c) sum += std::exp(double(x[c]) * scale - max);
  for (int64_t c = 0; c < cols; ++c) {
    x[c] = static_cast<float>(std::exp(double(x[c]) * scale - max) / sum);
  }
}

}  // namespace scalar
}  // namespace embedrt::kernels
