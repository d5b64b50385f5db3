#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "embedrt/embedder.h"
#include "embedrt/profile.h"
#include "embedrt/system.h"
#include "engine_options.h"

namespace embedrt::cli {
namespace {

struct InfoArgs {
  std::string model;
  EngineArgs engine;
};

void print_system() {
  const SystemInfo system = system_info();
  std::printf("version         %s\n", system.version.c_str());
  std::printf("cpu             %s\n", system.cpu.empty() ? "unknown" : system.cpu.c_str());
  std::printf("isa             %s%s (CPU: %s; oneDNN: %s)\n", system.isa.c_str(),
              system.isa != system.cpu_isa ? ", lowered by EMBEDRT_ISA" : "",
              system.cpu_isa.c_str(), system.onednn_isa.c_str());
  std::printf("bf16 / int8     %s / %s\n", system.bf16 ? "native" : "falls back to fp32",
              system.int8_vnni ? "VNNI or AMX" : "without VNNI");
  std::printf("attention       fp32; in bf16 / int8 %s\n",
              system.attention_amx ? "on AMX (two-part bf16 scores, bf16 P.V)" : "fp32 too");
}

void run_info(const InfoArgs& args) {
  if (args.model.empty()) {
    print_system();
    return;
  }
  const Embedder embedder = Embedder::load(args.model, to_embedder_options(args.engine));
  const ModelInfo& info = embedder.info();
  std::printf("model           %s\n", info.dir.string().c_str());
  std::printf("architecture    %s\n", info.architecture.c_str());
  if (info.dimension != info.model_dimension) {
    std::printf("dimension       %zu (Matryoshka truncation of %zu)\n", info.dimension,
                info.model_dimension);
  } else {
    std::printf("dimension       %zu\n", info.dimension);
  }
  std::printf("hidden size     %zu\n", info.hidden_size);
  std::printf("layers          %zu\n", info.layers);
  std::printf("attention heads %zu\n", info.attention_heads);
  std::printf("intermediate    %zu\n", info.intermediate_size);
  std::printf("activation      %s\n", info.activation.c_str());
  std::printf("vocabulary      %zu\n", info.vocab_size);
  std::printf("max length      %zu tokens\n", info.max_length);
  std::printf("pooling         %s\n", info.pooling.c_str());
  if (!info.output_modules.empty())
    std::printf("after pooling   %s\n", info.output_modules.c_str());
  std::printf("normalize       %s\n", info.normalize ? "yes" : "no");
  std::printf("parameters      %zu\n", info.parameters);
  std::printf("weights dtype   %s\n", info.weight_dtype.c_str());
  std::printf("compute dtype   %s\n", info.compute_dtype.c_str());
  const auto mib = [](size_t bytes) { return double(bytes) / (1024.0 * 1024.0); };
  std::printf("weight memory   %.1f MiB (%s, loaded)\n", mib(info.weight_bytes),
              info.compute_dtype.c_str());
  std::printf("weights by mode fp32 %.1f / bf16 %.1f / int8 %.1f MiB (estimated)\n",
              mib(info.weight_bytes_fp32), mib(info.weight_bytes_bf16),
              mib(info.weight_bytes_int8));
  std::printf("peak memory     %.1f MiB (process, after load)\n", mib(process_peak_rss_bytes()));
  std::printf("optimize        %s\n", std::string(to_string(info.optimize)).c_str());
  std::printf("threads         %d\n", info.threads);
  std::printf("batch           %zu texts, %zu tokens%s\n", info.batch_size, info.max_batch_tokens,
              info.adaptive_batching ? " (adaptive)" : "");
  std::printf("cache           %.0f MiB\n", double(info.cache_bytes) / (1024.0 * 1024.0));
  std::printf("deterministic   %s\n", info.deterministic ? "yes" : "no");
  print_system();
  if (!info.matmul_one_row.empty())  // empty for a StaticEmbedding model: no matmul
    std::printf("matmul          %s (1 row), %s (256 rows)\n", info.matmul_one_row.c_str(),
                info.matmul_batch.c_str());
  for (const std::string& warning : info.warnings)
    std::printf("warning         %s\n", warning.c_str());
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "info",
      "Describe the CPU paths (ISA, oneDNN) and, with --model, a model and the engine settings");
  cmd->add_option("--model,-m", args->model,
                  "Model folder, a model name under $EMBEDRT_HOME/models, or a Hugging Face id "
                  "org/name[@revision] in the local Hugging Face cache");
  add_engine_options(cmd, args->engine);
  cmd->callback([args] { run_info(*args); });
}

}  // namespace embedrt::cli
