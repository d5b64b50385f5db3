// Choosing batch settings: how much memory a batch needs, which batch sizes fit, and the settings
// `embedrt tune` measured as fastest on this machine.
//
//   const embedrt::Embedder embedder = embedrt::Embedder::load("all-MiniLM-L6-v2");
//   size_t n = embedrt::find_optimal_batch_size(embedder.info(), 128, 256 << 20);
//
//   if (auto tuned = embedrt::load_tuning("all-MiniLM-L6-v2")) options.threads = tuned->threads;
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "embedrt/embedder.h"

namespace embedrt {

// ---------------------------------------------------------------------------------------------
// Memory model

// Bytes one model batch needs, by buffer (src/runtime/memory_model.h has the formula). Buffers
// grow to the largest batch and are then reused, so the peak is that of the largest batch.
struct BatchMemoryEstimate {
  size_t activations = 0;        // the encoder's per-token activations, shared by all layers
  size_t attention_scratch = 0;  // per-thread attention blocks (grow with the longest sequence)
  size_t quantized_inputs = 0;   // bf16/int8 copies of matmul inputs (matmul scratch); 0 in fp32
  size_t gemm_scratch = 0;       // the matmuls' row scratch (fp32 tile copies, bf16 padded tails)
  size_t weights = 0;            // packed weights, resident whatever the batch

  // What Embedder::buffer_peak_bytes() measures.
  size_t workspace() const noexcept { return activations + attention_scratch; }
  // What the batch adds to a loaded model.
  size_t batch() const noexcept { return workspace() + quantized_inputs + gemm_scratch; }
  size_t total() const noexcept { return batch() + weights; }
};

// For `model` as loaded (its precision, thread count and determinism), a batch of `batch_tokens`
// tokens whose longest sequence has `longest_sequence` tokens.
BatchMemoryEstimate estimate_batch_memory(const ModelInfo& model, size_t batch_tokens,
                                          size_t longest_sequence);

// The batch size for texts of `sequence_length` tokens: as many as the model's token budget
// (ModelInfo::max_batch_tokens, when set) allows, but no more than fit their buffers in
// `available_memory_bytes` (which does not include the already loaded weights). At least 1 when
// one sequence fits, 0 when not even one does.
size_t find_optimal_batch_size(const ModelInfo& model, size_t sequence_length,
                               size_t available_memory_bytes);

// The token budget for batches whose longest sequence has `longest_sequence` tokens: the model's
// token budget (when set) or the largest that fits `available_memory_bytes`, whichever is less;
// 0 when not even one sequence fits.
size_t find_optimal_token_budget(const ModelInfo& model, size_t longest_sequence,
                                 size_t available_memory_bytes);

// Cores this process may run on (its CPU affinity), the default thread count.
int available_cores();

// Memory this process can still use: the smaller of the system's MemAvailable and the room left
// under its cgroup's memory.max; 0 when neither can be read.
size_t available_memory_bytes();

// ---------------------------------------------------------------------------------------------
// Tuning files

// The batch settings `embedrt tune` chose for a model on this machine.
struct TuningSettings {
  int threads = 0;
  size_t batch_size = 0;
  size_t max_batch_tokens = 0;
  std::string precision;         // the precision they were measured in
  std::filesystem::path source;  // the tuning file
};

// One measured grid point: model batches formed from the workload, run for a fixed time.
// texts/s and tokens/s are those of one pass over the whole workload: batches the time limit left
// out are counted at the per-token cost of the nearest measured batch in length order.
struct TunePoint {
  int threads = 0;
  size_t batch_size = 0;
  size_t max_batch_tokens = 0;
  size_t batches_run = 0;
  double texts_per_second = 0;
  double tokens_per_second = 0;
  double p50_batch_ms = 0;
  double p90_batch_ms = 0;
  size_t estimated_bytes = 0;  // memory model: the largest batch's buffers (batch())
  // Index of an earlier point whose batches were exactly the same (its figures were reused).
  std::optional<size_t> same_batches_as;
};

struct TuneResult {
  std::string model;  // the model's folder name: the tuning file's key
  std::filesystem::path model_dir;
  std::string cpu;  // /proc/cpuinfo model name
  int cpu_count = 0;
  std::string date;  // UTC, ISO 8601
  std::string precision;
  bool deterministic = true;
  std::optional<double> target_latency_ms;
  double seconds_per_point = 0;
  // The workload: where its texts came from and their token lengths.
  std::string workload;
  size_t texts = 0;
  size_t tokens = 0;
  size_t median_tokens = 0;
  size_t max_tokens = 0;
  std::vector<TunePoint> points;
  size_t best = 0;  // index into points

  TuningSettings settings() const;
};

// $EMBEDRT_HOME/tuning/<model folder name>.json (EMBEDRT_HOME defaults to ~/.cache/embedrt).
// `model` is a model folder or name as Embedder::load takes it.
std::filesystem::path default_tuning_path(std::string_view model);

// Writes `result` as JSON (creating parent folders); throws kIo naming the path on failure.
void write_tuning_file(const TuneResult& result, const std::filesystem::path& path);
// Reads a tuning file; throws kIo when it cannot be read, kInvalidArgument naming the file and
// field when it is malformed.
TuneResult read_tuning_file(const std::filesystem::path& path);

// The settings in default_tuning_path(model), or nothing when there is no such file or it was
// measured on another machine (CPU model name or core count differ). A malformed file throws as
// read_tuning_file does. Explicit options should win over what this returns.
std::optional<TuningSettings> load_tuning(std::string_view model);

// ---------------------------------------------------------------------------------------------
// Measuring

struct TuneOptions {
  std::vector<int> threads;           // empty = 1 and all cores
  std::vector<size_t> token_budgets;  // empty = 256, 1024, 4096
  std::vector<size_t> batch_sizes;    // empty = 32, 128
  double seconds_per_point = 1.0;     // time spent running batches per grid point
  // When set, the best point is the fastest whose p90 batch latency meets it (or, if none does,
  // the one with the lowest p90).
  std::optional<double> target_latency_ms;
  std::optional<Precision> precision;
  bool deterministic = true;
  size_t max_length = 0;  // 0 = the model's
  // Synthetic workload (when no texts are given): this many texts whose token lengths follow a
  // log-normal distribution with median 32 tokens and sigma 0.7 (clipped to [4, max length]):
  // short sentences with a tail of paragraphs, like typical retrieval inputs. Token ids are drawn
  // uniformly from the vocabulary; cost does not depend on which ids.
  size_t synthetic_texts = 256;
  uint64_t seed = 1;
};

// Measures every (threads, token budget, batch size) point on `texts` (tokenized once; empty =
// the synthetic workload) and picks the best (best_tune_point). Only model batches are timed:
// tokenization costs the same whatever the batch settings. One model is loaded per thread count,
// one after the other in this process; `embedrt tune` runs each thread count in a process of its
// own instead, so that no kernel state chosen for one thread count carries over to the next.
// `on_point`, when given, sees each point as it is measured. Throws kInvalidArgument for an empty
// or non-positive grid value.
TuneResult tune(const std::string& model, std::span<const std::string> texts,
                const TuneOptions& options,
                const std::function<void(const TunePoint&)>& on_point = {});

// The index of the best point by the rule tune() uses: the fastest (texts/s) meeting the target,
// and among those within 2% of it, which a shared machine's noise cannot tell apart, the lowest
// p50 latency; with no point meeting the target, the lowest p90. 0 for no points.
size_t best_tune_point(std::span<const TunePoint> points, std::optional<double> target_latency_ms);

}  // namespace embedrt
