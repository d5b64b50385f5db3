// Element-wise activations of the BERT family, applied in place when oneDNN cannot fuse them.
#pragma once

#include <cstdint>
#include <string_view>

namespace embedrt::kernels {

enum class Activation {
  kNone,
  kGeluErf,   // x/2 * (1 + erf(x / sqrt(2)))
  kGeluTanh,  // x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
  kRelu,
  kSilu,  // x * sigmoid(x)
};

std::string_view to_string(Activation act) noexcept;

// x[i] = act(x[i]) for i < n, on the active ISA.
void apply_activation(Activation act, float* x, int64_t n);

namespace scalar {
void apply_activation(Activation act, float* x, int64_t n);
}
namespace avx2 {
void apply_activation(Activation act, float* x, int64_t n);
}
namespace avx512 {
void apply_activation(Activation act, float* x, int64_t n);
}

}  // namespace embedrt::kernels
