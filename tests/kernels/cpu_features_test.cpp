#include "kernels/cpu/cpu_features.h"

#include <gtest/gtest.h>

#include "embedrt/error.h"

namespace embedrt::kernels {
namespace {

TEST(CpuFeatures, OverrideLowersButNeverRaisesTheLevel) {
  EXPECT_EQ(resolve_isa("scalar", Isa::kAvx512), Isa::kScalar);
  EXPECT_EQ(resolve_isa("avx2", Isa::kAvx512), Isa::kAvx2);
  EXPECT_EQ(resolve_isa("avx512", Isa::kAvx2), Isa::kAvx2);
  EXPECT_EQ(resolve_isa("avx2", Isa::kScalar), Isa::kScalar);
}

TEST(CpuFeatures, UnknownOverrideIsAnError) {
  try {
    resolve_isa("sse9", Isa::kAvx2);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("EMBEDRT_ISA"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("sse9"), std::string::npos);
  }
}

TEST(CpuFeatures, ActiveLevelNeverExceedsTheCpu) { EXPECT_LE(active_isa(), detect_cpu_isa()); }

}  // namespace
}  // namespace embedrt::kernels
