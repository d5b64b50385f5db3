#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "embedrt/embedder.h"

namespace embedrt::cli {
namespace {

void run_info(const std::string& model) {
  const Embedder embedder = Embedder::load(model);
  const ModelInfo& info = embedder.info();
  std::printf("model           %s\n", info.dir.string().c_str());
  std::printf("architecture    %s\n", info.architecture.c_str());
  std::printf("dimension       %zu\n", info.dimension);
  std::printf("hidden size     %zu\n", info.hidden_size);
  std::printf("layers          %zu\n", info.layers);
  std::printf("attention heads %zu\n", info.attention_heads);
  std::printf("intermediate    %zu\n", info.intermediate_size);
  std::printf("activation      %s\n", info.activation.c_str());
  std::printf("vocabulary      %zu\n", info.vocab_size);
  std::printf("max length      %zu tokens\n", info.max_length);
  std::printf("pooling         %s\n", info.pooling.c_str());
  std::printf("normalize       %s\n", info.normalize ? "yes" : "no");
  std::printf("parameters      %zu\n", info.parameters);
  std::printf("weights dtype   %s\n", info.weight_dtype.c_str());
  std::printf("compute dtype   %s\n", info.compute_dtype.c_str());
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("info", "Describe a model: architecture, sizes, pooling");
  cmd->add_option("--model,-m", *model, "Model folder, or a model name under $EMBEDRT_HOME/models")
      ->required();
  cmd->callback([model] { run_info(*model); });
}

}  // namespace embedrt::cli
