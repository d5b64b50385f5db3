// What this process runs on, for bug reports and `embedrt info`: the CPU, the instruction-set
// level of embedrt's kernels and the one oneDNN's JIT targets.
#pragma once

#include <string>

namespace embedrt {

struct SystemInfo {
  std::string version;  // embedrt's version
  std::string cpu;      // the CPU's model name (from /proc/cpuinfo; empty if unknown)
  std::string isa;      // level of embedrt's kernels: "scalar", "avx2" or "avx512"
  std::string cpu_isa;  // the highest level the CPU and OS support (isa may be lower: EMBEDRT_ISA)
  std::string onednn_isa;  // what oneDNN's JIT targets, e.g. "avx2", "avx512_core_amx"
  bool bf16 = false;       // bf16 matmuls run natively (AVX512-BF16 or AMX)
  bool int8_vnni = false;  // int8 matmuls have VNNI or AMX
  // bf16 and int8 modes run attention on AMX's tile unit (else fp32, as fp32 mode always does)
  bool attention_amx = false;
};

// embedrt's version, e.g. "0.1.0" (the one place it is kept is the build's project version).
const char* version() noexcept;

// Throws embedrt::Error(kInvalidArgument) when EMBEDRT_ISA holds an unknown value.
SystemInfo system_info();

// The Hugging Face hub cache that `--model org/name[@revision]` is looked up in: HF_HUB_CACHE,
// else HF_HOME/hub, else ~/.cache/huggingface/hub; empty when none is set (no HOME).
std::string hf_hub_cache_dir();

}  // namespace embedrt
