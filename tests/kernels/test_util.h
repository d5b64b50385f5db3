// Random inputs and comparison helpers shared by the kernel tests.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_features.h"

namespace embedrt::kernels::testing {

inline std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const float d = std::fabs(a[i] - b[i]);
    if (!(d <= worst)) worst = std::isnan(d) ? INFINITY : d;
  }
  return worst;
}

}  // namespace embedrt::kernels::testing

#define EMBEDRT_REQUIRE_AVX2()                                                   \
  do {                                                                           \
    if (::embedrt::kernels::detect_cpu_isa() < ::embedrt::kernels::Isa::kAvx2) { \
      GTEST_SKIP() << "this CPU has no AVX2+FMA";                                \
    }                                                                            \
  } while (0)

#define EMBEDRT_REQUIRE_AVX512()                                                   \
  do {                                                                             \
    if (::embedrt::kernels::detect_cpu_isa() < ::embedrt::kernels::Isa::kAvx512) { \
      GTEST_SKIP() << "this CPU has no AVX-512 F/BW/VL/DQ";                        \
    }                                                                              \
  } while (0)

// For tests parameterized over kernels of several levels.
#define EMBEDRT_REQUIRE_ISA(isa)                                               \
  do {                                                                         \
    if (::embedrt::kernels::detect_cpu_isa() < (isa)) {                        \
      GTEST_SKIP() << "this CPU lacks " << ::embedrt::kernels::to_string(isa); \
    }                                                                          \
  } while (0)
