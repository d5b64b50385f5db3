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
};

// Registers --optimize, --precision, --threads, --max-length, --batch-size, --max-batch-tokens,
// --cache-mb, --deterministic/--no-deterministic, --adaptive/--no-adaptive, --target-latency-ms,
// --pooling and --normalize/--no-normalize.
void add_engine_options(CLI::App* cmd, EngineArgs& args);

EmbedderOptions to_embedder_options(const EngineArgs& args);

// A --flag / --no-flag pair that leaves `value` empty when neither is given (CLI11's negated
// flags on std::optional would store false by default).
void add_tristate_flag(CLI::App* cmd, const std::string& on, const std::string& off,
                       std::optional<bool>& value, const std::string& help);

}  // namespace embedrt::cli
