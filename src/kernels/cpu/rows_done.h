// A hook a matmul calls on rows it has finished.
#pragma once

#include <cstdint>

namespace embedrt::kernels {

// Called once for each range of rows [r0, r1) of a product's output as soon as all its columns
// are written, on the thread that wrote the last of them (possibly inside the product's parallel
// region, so it should not start threads of its own), to work on those rows while they are in
// that thread's cache. The ranges partition [0, rows).
struct RowsDone {
  void (*fn)(const void* context, int64_t r0, int64_t r1) = nullptr;
  const void* context = nullptr;
};

}  // namespace embedrt::kernels
