#include "embedrt/system.h"

#include <fstream>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/matmul.h"

namespace embedrt {
namespace {

std::string cpu_model_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? std::string() : line.substr(start);
  }
  return {};
}

}  // namespace

const char* version() noexcept { return EMBEDRT_VERSION; }

SystemInfo system_info() {
  SystemInfo info;
  info.version = EMBEDRT_VERSION;
  info.cpu = cpu_model_name();
  info.isa = std::string(kernels::to_string(kernels::active_isa()));
  info.cpu_isa = std::string(kernels::to_string(kernels::detect_cpu_isa()));
  info.onednn_isa = kernels::onednn_isa();
  info.bf16 =
      kernels::resolve_precision(kernels::Precision::kBF16, nullptr) == kernels::Precision::kBF16;
  // avx512_core_bf16 and avx512_core_amx include VNNI.
  info.int8_vnni = info.onednn_isa.find("vnni") != std::string::npos ||
                   info.onednn_isa.find("bf16") != std::string::npos ||
                   info.onednn_isa.find("amx") != std::string::npos;
  return info;
}

}  // namespace embedrt
