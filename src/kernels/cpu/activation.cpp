#include "kernels/cpu/activation.h"

#include <cmath>

#include "kernels/cpu/cpu_features.h"

namespace embedrt::kernels {

std::string_view to_string(Activation act) noexcept {
  switch (act) {
    case Activation::kNone:
      return "none";
    case Activation::kGeluErf:
      return "gelu_erf";
    case Activation::kGeluTanh:
      return "gelu_tanh";
    case Activation::kRelu:
      return "relu";
    case Activation::kSilu:
      return "silu";
  }
  return "unknown";
}

void apply_activation(Activation act, float* x, int64_t n) {
  if (act == Activation::kNone) return;
  const Isa isa = active_isa();
  if (isa >= Isa::kAvx512) {
    avx512::apply_activation(act, x, n);
  } else if (isa >= Isa::kAvx2) {
    avx2::apply_activation(act, x, n);
  } else {
    scalar::apply_activation(act, x, n);
  }
}

namespace scalar {

void apply_activation(Activation act, float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    double y = v;
    switch (act) {
      case Activation::kNone:
        break;
      case Activation::kGeluErf:
        y = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
        break;
      case Activation::kGeluTanh:
        y = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
        break;
      case Activation::kRelu:
        y = v > 0 ? v : 0.0;
        break;
      case Activation::kSilu:
        y = v / (1.0 + std::exp(-v));
        break;
    }
    x[i] = static_cast<float>(y);
  }
}

}  // namespace scalar
}  // namespace embedrt::kernels
