// The engine knobs shared by commands that load a model for encoding (encode, info, bench, ...).
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "embedrt/embedder.h"

namespace embedrt::cli {

struct EngineArgs {
  std::string optimize = "balanced";
  std::string precision;  // empty = the optimize mode's
  int threads = 0;
  size_t max_length = 0;
  size_t batch_size = 0;
  size_t max_batch_tokens = 0;
  std::optional<size_t> cache_mb;
  std::optional<bool> deterministic;
  std::optional<bool> adaptive_batching;
  double target_latency_ms = 0;
  std::string pooling;
  std::optional<bool> normalize;
  std::optional<size_t> dimensions;
};

// Registers --optimize, --precision, --threads, --max-length, --batch-size, --max-batch-tokens,
// --cache-mb, --deterministic/--no-deterministic, --adaptive/--no-adaptive, --target-latency-ms,
// --pooling, --normalize/--no-normalize and --dimensions.
void add_engine_options(CLI::App* cmd, EngineArgs& args);

EmbedderOptions to_embedder_options(const EngineArgs& args);

// Fills threads, batch size and token budget that the command line left unset from the model's
// tuning file (written by `embedrt tune` on this machine), when there is one measured in the
// precision that will be asked for. Returns a note naming the file, or nothing.
std::optional<std::string> apply_tuning_file(const std::string& model, const EngineArgs& args,
                                             EmbedderOptions& options);

// A --flag / --no-flag pair that leaves `value` empty when neither is given (CLI11's negated
// flags on std::optional would store false by default).
void add_tristate_flag(CLI::App* cmd, const std::string& on, const std::string& off,
                       std::optional<bool>& value, const std::string& help);

}  // namespace embedrt::cli
