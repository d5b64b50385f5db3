// A fully connected layer on oneDNN: y = act(x W^T + b) [+ residual], fp32, with the weights
// reordered once into the layout oneDNN's kernel prefers.
#pragma once

#include <cstdint>
#include <memory>

#include "kernels/cpu/activation.h"

namespace embedrt::kernels {

struct LinearSpec {
  int64_t in_features = 0;
  int64_t out_features = 0;
  Activation activation = Activation::kNone;  // fused as an eltwise post-op
  bool add_residual = false;                  // fused as a binary-add post-op after activation
};

class Linear {
 public:
  // `weight` is [out_features, in_features] row-major (PyTorch's nn.Linear layout), `bias` is
  // [out_features] or null. Both are copied (packed); the caller may free them afterwards.
  Linear(const LinearSpec& spec, const float* weight, const float* bias);
  ~Linear();
  Linear(Linear&&) noexcept;
  Linear& operator=(Linear&&) noexcept;

  const LinearSpec& spec() const noexcept;

  // y[rows, out] = act(x[rows, in] W^T + b) (+ residual[rows, out] when spec().add_residual).
  // Thread-safe: concurrent calls from different threads are allowed.
  void forward(const float* x, int64_t rows, float* y, const float* residual = nullptr) const;

  // Name of the oneDNN implementation chosen for `rows` rows (for logs and benchmarks).
  const char* implementation(int64_t rows) const;

  // Rows per oneDNN call. forward() splits larger inputs into tiles of this size (and pads tails
  // below 4 rows) so that a row's result never depends on how many rows share the call.
  int64_t row_tile() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace embedrt::kernels
