// fp32 GEMM on weights packed once at load, for CPUs where oneDNN would repack the weights on
// every call (its AVX2 GEMM does, which dominates a query of a few tokens). Every output element is
// a single fused multiply-add chain over k in ascending order, so a row's bits never depend on how
// many rows share the call, where the row sits, the tiling or the thread count; the scalar and
// AVX2 kernels give the same bits.
#pragma once

#include <cstdint>
#include <memory>

#include "kernels/cpu/activation.h"

namespace embedrt::kernels {

// Output columns per packed panel: two AVX2 registers.
inline constexpr int64_t kGemmPanelColumns = 16;

// A [out, in] row-major weight (PyTorch's nn.Linear layout) as panels of kGemmPanelColumns
// output columns, each panel [in][kGemmPanelColumns] contiguous and the last one zero-padded, plus
// the bias padded the same way (zeros when there is none).
class PackedF32Weights {
 public:
  PackedF32Weights(const float* weight, const float* bias, int64_t out, int64_t in);

  int64_t in_features() const noexcept { return in_; }
  int64_t out_features() const noexcept { return out_; }
  int64_t panels() const noexcept { return panels_; }
  const float* panel(int64_t p) const noexcept { return data_.get() + p * in_ * kGemmPanelColumns; }
  const float* bias() const noexcept { return data_.get() + panels_ * in_ * kGemmPanelColumns; }
  size_t bytes() const noexcept;

 private:
  struct Free {
    void operator()(float* p) const noexcept;
  };
  int64_t out_ = 0, in_ = 0, panels_ = 0;
  std::unique_ptr<float[], Free> data_;
};

struct GemmArgs {
  const float* x = nullptr;  // [rows, in]
  int64_t rows = 0;
  float* y = nullptr;               // [rows, out]
  const float* residual = nullptr;  // [rows, out], added after the activation when not null
  Activation activation = Activation::kNone;
};

// y = act(x W^T + b) (+ residual), threaded with OpenMP over row blocks and column groups. Uses the
// AVX2 kernel when active_isa() allows it, else the scalar one.
void gemm_packed(const PackedF32Weights& weights, const GemmArgs& args);

namespace scalar {
void gemm_packed(const PackedF32Weights& weights, const GemmArgs& args);
}
namespace avx2 {
void gemm_packed(const PackedF32Weights& weights, const GemmArgs& args);
}

namespace detail {
// One register tile: y[r, c] = sum_k a[r, k] * panel[k, c] + bias[c] for r < rows (1..6) and
// c < cols (1..16), the sum one fma chain in ascending k.
using GemmTile = void (*)(const float* a, int64_t lda, int rows, const float* panel, int64_t k,
                          const float* bias, float* y, int64_t ldy, int cols);
inline constexpr int kGemmTileRows = 6;
void gemm_packed(const PackedF32Weights& weights, const GemmArgs& args, GemmTile tile);
void gemm_tile_avx2(const float* a, int64_t lda, int rows, const float* panel, int64_t k,
                    const float* bias, float* y, int64_t ldy, int cols);
}  // namespace detail

}  // namespace embedrt::kernels
