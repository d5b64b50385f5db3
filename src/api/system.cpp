#include "embedrt/system.h"

#include "kernels/cpu/attention_amx.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/matmul.h"
#include "model/model_location.h"
#include "runtime/tuning_file.h"

namespace embedrt {

const char* version() noexcept { return EMBEDRT_VERSION; }

SystemInfo system_info() {
  SystemInfo info;
  info.version = EMBEDRT_VERSION;
  info.cpu = runtime::cpu_model_name();
  info.isa = std::string(kernels::to_string(kernels::active_isa()));
  info.cpu_isa = std::string(kernels::to_string(kernels::detect_cpu_isa()));
  info.onednn_isa = kernels::onednn_isa();
  info.bf16 =
      kernels::resolve_precision(kernels::Precision::kBF16, nullptr) == kernels::Precision::kBF16;
  // avx512_core_bf16 and avx512_core_amx include VNNI.
  info.int8_vnni = info.onednn_isa.find("vnni") != std::string::npos ||
                   info.onednn_isa.find("bf16") != std::string::npos ||
                   info.onednn_isa.find("amx") != std::string::npos;
  info.attention_amx = kernels::active_isa() >= kernels::Isa::kAvx512 && kernels::amx::available();
  return info;
}

std::string hf_hub_cache_dir() {
  return model::ModelSearchPaths::from_environment().hf_hub_cache.string();
}

}  // namespace embedrt
