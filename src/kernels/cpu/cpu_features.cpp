#include "kernels/cpu/cpu_features.h"

#include <cpuid.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "embedrt/error.h"

namespace embedrt::kernels {
namespace {

uint64_t read_xcr0() noexcept {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

}  // namespace

std::string_view to_string(Isa isa) noexcept {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "unknown";
}

Isa detect_cpu_isa() noexcept {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return Isa::kScalar;
  const bool osxsave = ecx & (1u << 27);
  const bool fma = ecx & (1u << 12);
  const bool f16c = ecx & (1u << 29);
  const bool avx = ecx & (1u << 28);
  if (!osxsave || !avx) return Isa::kScalar;
  const uint64_t xcr0 = read_xcr0();
  // The OS must save the YMM (bits 1-2) and, for AVX-512, the opmask and ZMM state (bits 5-7).
  if ((xcr0 & 0x6) != 0x6) return Isa::kScalar;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return Isa::kScalar;
  const bool avx2 = ebx & (1u << 5);
  if (!(avx2 && fma && f16c)) return Isa::kScalar;
  const bool avx512f = ebx & (1u << 16);
  const bool avx512dq = ebx & (1u << 17);
  const bool avx512bw = ebx & (1u << 30);
  const bool avx512vl = ebx & (1u << 31);
  if (avx512f && avx512dq && avx512bw && avx512vl && (xcr0 & 0xe6) == 0xe6) return Isa::kAvx512;
  return Isa::kAvx2;
}

Isa resolve_isa(std::string_view requested, Isa cpu) {
  Isa wanted;
  if (requested == "scalar") {
    wanted = Isa::kScalar;
  } else if (requested == "avx2") {
    wanted = Isa::kAvx2;
  } else if (requested == "avx512") {
    wanted = Isa::kAvx512;
  } else {
    throw Error(
        ErrorCode::kInvalidArgument,
        "EMBEDRT_ISA: expected scalar, avx2 or avx512, found '" + std::string(requested) + "'");
  }
  return std::min(wanted, cpu);
}

Isa active_isa() {
  static const Isa isa = [] {
    const Isa cpu = detect_cpu_isa();
    const char* requested = std::getenv("EMBEDRT_ISA");
    if (requested == nullptr || *requested == '\0') return cpu;
    return resolve_isa(requested, cpu);
  }();
  return isa;
}

}  // namespace embedrt::kernels
