// The instruction-set level the CPU kernels use, detected once per process.
#pragma once

#include <string_view>

namespace embedrt::kernels {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

std::string_view to_string(Isa isa) noexcept;

// What the CPU and OS support (cpuid + xgetbv), ignoring any override.
Isa detect_cpu_isa() noexcept;

// The level the kernels use: detect_cpu_isa(), lowered by EMBEDRT_ISA=scalar|avx2|avx512 when set.
// A request above what the CPU supports is clamped to the CPU; an unknown value throws
// embedrt::Error(kInvalidArgument). Computed on first use and fixed for the process.
Isa active_isa();

// Parses an EMBEDRT_ISA value and clamps it to `cpu`; exposed for tests.
Isa resolve_isa(std::string_view requested, Isa cpu);

}  // namespace embedrt::kernels
