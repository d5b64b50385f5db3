// A fully connected layer on oneDNN: y = act(x W^T + b) [+ residual] with fp32 inputs and
// outputs, the weights reordered once into the layout oneDNN's kernel prefers and the product
// computed in fp32, bf16 or int8.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/rows_done.h"

namespace embedrt::kernels {

// What a Linear multiplies in. Inputs, outputs, bias, activation and residual stay fp32.
enum class Precision {
  kF32,
  kBF16,  // bf16 weights and inputs, fp32 accumulation
  kInt8,  // s8 weights per output channel, inputs quantized per row at run time, s32 accumulation
};

std::string_view to_string(Precision precision) noexcept;

// The precision Linear will actually use for `requested` on this CPU and oneDNN build: bf16 needs
// AVX512-BF16 or AMX and a oneDNN bf16 matmul that is not the reference implementation. When it
// has to fall back to fp32, `warning` (if given) receives a one-line reason; otherwise it is
// cleared. Checked once per process and precision.
Precision resolve_precision(Precision requested, std::string* warning);

// The instruction set oneDNN's JIT targets in this process (e.g. "avx512_core_amx"), after the
// EMBEDRT_ISA cap.
std::string onednn_isa();

struct LinearSpec {
  int64_t in_features = 0;
  int64_t out_features = 0;
  Activation activation = Activation::kNone;  // fused as an eltwise post-op
  bool add_residual = false;                  // fused as a binary-add post-op after activation
  Precision precision = Precision::kF32;      // must be a value resolve_precision() returned
  // A row count forward() will often get (the chunk a caller cuts its rows into), 0 for none: on
  // the oneDNN path it is checked at load like the other call sizes (at most kMaxTypicalRows) and,
  // where it gives every row the same bits, run as one call instead of several smaller ones.
  int64_t typical_rows = 0;
};

inline constexpr int64_t kMaxTypicalRows = 512;

// How a weight matrix handed to Linear is stored.
enum class WeightType {
  kF32,
  kBF16,  // bfloat16 bits
  kF16,   // IEEE half bits
};

// [out_features, in_features] row-major weights (PyTorch's nn.Linear layout) as a checkpoint
// stored them, so 16-bit weights are packed without an fp32 copy of the matrix.
struct WeightView {
  WeightType type = WeightType::kF32;
  const void* data = nullptr;  // float or uint16_t values
};

class Linear {
 public:
  // `weight` is [out_features, in_features] row-major (PyTorch's nn.Linear layout), `bias` is
  // [out_features] or null. Both are copied (packed); the caller may free them afterwards.
  Linear(const LinearSpec& spec, const float* weight, const float* bias);
  // The same from fp32, bf16 or half weights. 16-bit values widen to fp32 exactly, so the packed
  // weights (and results) are the bits the fp32 constructor gives for those values: bf16 goes to
  // oneDNN as is, int8 quantizes one widened row at a time.
  Linear(const LinearSpec& spec, WeightView weight, const float* bias);
  ~Linear();
  Linear(Linear&&) noexcept;
  Linear& operator=(Linear&&) noexcept;

  const LinearSpec& spec() const noexcept;

  // Bytes held by the packed weights and bias.
  size_t weight_bytes() const noexcept;

  // y[rows, out] = act(x[rows, in] W^T + b) (+ residual[rows, out] when spec().add_residual).
  // Thread-safe: concurrent calls from different threads are allowed. With `batch_invariant`
  // (the default) every row gets the same bits whatever `rows` is (see RowBlocking); without it
  // oneDNN sees all rows in one call, which is faster on large batches but lets a row's last bits
  // depend on how many rows share the call. int8 is batch-invariant either way: each row is
  // quantized on its own and the s32 sums are exact. `rows_done`, when set, is called on finished
  // rows: per row block from inside the packed fp32 GEMM, once over all rows after oneDNN.
  void forward(const float* x, int64_t rows, float* y, const float* residual = nullptr,
               bool batch_invariant = true, RowsDone rows_done = {}) const;

  // Name of the oneDNN implementation chosen for `rows` rows (for logs and benchmarks).
  const char* implementation(int64_t rows) const;

  // The row counts forward() passes to oneDNN (ascending; inputs are split into these sizes and
  // the tail zero-padded), chosen at construction so that every row gets the bits it would get
  // computed `quantum` rows at a time: a row's result then never depends on how many rows share
  // the call or where it sits. Empty call_rows (int8) means any row count is passed through.
  struct RowBlocking {
    int64_t quantum;
    std::vector<int64_t> call_rows;
  };
  RowBlocking row_blocking() const noexcept;

  struct Impl;

 private:
  void forward_onednn(const float* x, int64_t rows, float* y, const float* residual,
                      bool batch_invariant) const;

  std::unique_ptr<Impl> impl_;
};

}  // namespace embedrt::kernels
