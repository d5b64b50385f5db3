#include "engine_options.h"

#include "commands.h"

#include "embedrt/tuning.h"

namespace embedrt::cli {

void add_tristate_flag(CLI::App* cmd, const std::string& on, const std::string& off,
                       std::optional<bool>& value, const std::string& help) {
  CLI::Option* on_option = cmd->add_flag_callback(
      on, [&value] { value = true; }, help);
  CLI::Option* off_option = cmd->add_flag_callback(off, [&value] { value = false; });
  on_option->excludes(off_option);
}

void add_engine_options(CLI::App* cmd, EngineArgs& args) {
  cmd->add_option("--optimize", args.optimize,
                  "Knob set: balanced, throughput, latency or memory (docs/architecture.md)")
      ->check(CLI::IsMember({"balanced", "throughput", "latency", "memory"}))
      ->capture_default_str();
  cmd->add_option("--precision", args.precision,
                  "Matmul precision: fp32, bf16 or int8 (default: the optimize mode's; falls "
                  "back to fp32 with a warning where the CPU lacks the instructions)")
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
  cmd->add_option("--threads", args.threads, "Threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  add_max_length_option(cmd, args.max_length);
  cmd->add_option("--batch-size", args.batch_size,
                  "Most texts per model batch (default: the optimize mode's)")
      ->check(CLI::Range(size_t{1}, size_t{65536}));
  cmd->add_option("--max-batch-tokens", args.max_batch_tokens,
                  "Token budget per model batch (default: the optimize mode's)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 24));
  cmd->add_option("--cache-mb", args.cache_mb,
                  "Embedding cache bound in MiB, 0 = off (default: the optimize mode's)")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20));
  add_tristate_flag(cmd, "--deterministic", "--no-deterministic", args.deterministic,
                    "Bit-identical results whatever the batch composition (default: on, except "
                    "in throughput mode)");
  add_tristate_flag(cmd, "--adaptive", "--no-adaptive", args.adaptive_batching,
                    "Resize the token budget from observed batch latencies (default: on in "
                    "throughput mode)");
  cmd->add_option("--target-latency-ms", args.target_latency_ms,
                  "Per-batch latency the adaptive token budget aims for (default: best "
                  "throughput)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--pooling", args.pooling,
                  "Override the model's pooling: cls, mean, max, mean_sqrt_len_tokens, "
                  "weightedmean or lasttoken")
      ->check(CLI::IsMember(
          {"cls", "mean", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"}));
  add_tristate_flag(cmd, "--normalize", "--no-normalize", args.normalize,
                    "L2-normalize the embeddings (default: as the model's modules say)");
  cmd->add_option("--dimensions", args.dimensions,
                  "Matryoshka truncation: keep the first N values, renormalized when the "
                  "embeddings are normalized (default: the model's truncate_dim, else all)");
}

EmbedderOptions to_embedder_options(const EngineArgs& args) {
  EmbedderOptions options;
  options.optimize = parse_optimize_mode(args.optimize);
  if (!args.precision.empty()) options.precision = parse_precision(args.precision);
  options.threads = args.threads;
  options.max_length = args.max_length;
  options.batch_size = args.batch_size;
  options.max_batch_tokens = args.max_batch_tokens;
  if (args.cache_mb) options.cache_bytes = *args.cache_mb << 20;
  options.deterministic = args.deterministic;
  options.adaptive_batching = args.adaptive_batching;
  options.target_latency_ms = args.target_latency_ms;
  options.pooling = args.pooling;
  options.normalize = args.normalize;
  options.dimensions = args.dimensions;
  return options;
}

std::optional<std::string> apply_tuning_file(const std::string& model, const EngineArgs& args,
                                             EmbedderOptions& options) {
  const std::optional<TuningSettings> tuned = load_tuning(model);
  if (!tuned) return std::nullopt;
  if (!args.precision.empty() && !tuned->precision.empty() && tuned->precision != args.precision) {
    return std::nullopt;
  }
  if (args.threads == 0 && tuned->threads > 0) options.threads = tuned->threads;
  if (args.batch_size == 0 && tuned->batch_size > 0) options.batch_size = tuned->batch_size;
  if (args.max_batch_tokens == 0 && tuned->max_batch_tokens > 0) {
    options.max_batch_tokens = tuned->max_batch_tokens;
  }
  return "using tuned settings from " + tuned->source.string() + " (threads " +
         std::to_string(options.threads) + ", batch " + std::to_string(options.batch_size) +
         ", tokens " + std::to_string(options.max_batch_tokens) + ")";
}

}  // namespace embedrt::cli
