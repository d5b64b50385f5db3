#include "api/optimize_modes.h"

#include <omp.h>

#include <string>

#include "embedrt/error.h"

namespace embedrt {

std::string_view to_string(Precision precision) noexcept {
  switch (precision) {
    case Precision::kF32:
      return "fp32";
    case Precision::kBF16:
      return "bf16";
    case Precision::kInt8:
      return "int8";
  }
  return "unknown";
}

Precision parse_precision(std::string_view name) {
  if (name == "fp32" || name == "f32" || name == "float32") return Precision::kF32;
  if (name == "bf16" || name == "bfloat16") return Precision::kBF16;
  if (name == "int8" || name == "i8") return Precision::kInt8;
  throw Error(ErrorCode::kInvalidArgument,
              "precision '" + std::string(name) + "' is not one of fp32, bf16, int8");
}

std::string_view to_string(OptimizeMode mode) noexcept {
  switch (mode) {
    case OptimizeMode::kBalanced:
      return "balanced";
    case OptimizeMode::kThroughput:
      return "throughput";
    case OptimizeMode::kLatency:
      return "latency";
    case OptimizeMode::kMemory:
      return "memory";
  }
  return "unknown";
}

OptimizeMode parse_optimize_mode(std::string_view name) {
  if (name == "balanced") return OptimizeMode::kBalanced;
  if (name == "throughput") return OptimizeMode::kThroughput;
  if (name == "latency") return OptimizeMode::kLatency;
  if (name == "memory") return OptimizeMode::kMemory;
  throw Error(ErrorCode::kInvalidArgument,
              "optimize mode '" + std::string(name) +
                  "' is not one of balanced, throughput, latency, memory");
}

namespace {

constexpr size_t kMiB = size_t{1} << 20;

// The table documented in docs/architecture.md ("Optimization modes"); keep the two in step.
ResolvedKnobs mode_defaults(OptimizeMode mode) {
  ResolvedKnobs k;
  switch (mode) {
    case OptimizeMode::kBalanced:
      // Batches are packed without padding, so the token budget bounds memory and the text cap
      // only decides how many rows a matmul sees on short texts: 32 STS-B sentences make about
      // 330 rows, 128 about 1,300, and all-mpnet-base-v2 fp32 went from 182 to 197 texts/s
      // (+8%; 256 texts: 200) with all-MiniLM-L6-v2 unchanged (Intel Xeon, AVX-512, 2 threads).
      k = {Precision::kF32, 0, 128, 8192, 64 * kMiB, true, false};
      break;
    case OptimizeMode::kThroughput:
      // int8 passes the accuracy gates (mean cosine >= 0.995, STS-B within 0.005) and is the
      // fastest precision measured: 1.4-2x fp32 on AVX2, 1.9x on AMX. Bigger batches amortize
      // per-call overhead; fp32's batch-invariant row blocking is not needed by int8 (per-row
      // quantization and exact integer sums are invariant by construction).
      k = {Precision::kInt8, 0, 128, 16384, 64 * kMiB, false, true};
      break;
    case OptimizeMode::kLatency:
      // Small batches so that no caller waits behind a long one; int8 halves batch-1 latency
      // (no row padding, a quarter of the weight bytes to stream).
      k = {Precision::kInt8, 0, 8, 2048, 64 * kMiB, true, false};
      break;
    case OptimizeMode::kMemory:
      // int8 weights are a quarter of fp32; small batches bound the activation buffers.
      k = {Precision::kInt8, 0, 16, 2048, 0, true, false};
      break;
  }
  return k;
}

}  // namespace

ResolvedKnobs resolve_knobs(const EmbedderOptions& options) {
  if (options.threads < 0) throw Error(ErrorCode::kInvalidArgument, "threads must be >= 0");
  ResolvedKnobs k = mode_defaults(options.optimize);
  k.threads = options.threads > 0 ? options.threads : omp_get_num_procs();
  if (options.batch_size > 0) k.batch_size = options.batch_size;
  if (options.max_batch_tokens > 0) k.max_batch_tokens = options.max_batch_tokens;
  if (options.precision) k.precision = *options.precision;
  if (options.cache_bytes) k.cache_bytes = *options.cache_bytes;
  if (options.deterministic) k.deterministic = *options.deterministic;
  if (options.adaptive_batching) k.adaptive_batching = *options.adaptive_batching;
  return k;
}

model::EncoderOptions encoder_options(Precision precision) {
  model::EncoderOptions options;
  switch (precision) {
    case Precision::kF32:
      options.precision = kernels::Precision::kF32;
      break;
    case Precision::kBF16:
      options.precision = kernels::Precision::kBF16;
      break;
    case Precision::kInt8:
      options.precision = kernels::Precision::kInt8;
      break;
  }
  return options;
}

Precision public_precision(kernels::Precision precision) {
  switch (precision) {
    case kernels::Precision::kBF16:
      return Precision::kBF16;
    case kernels::Precision::kInt8:
      return Precision::kInt8;
    default:
      return Precision::kF32;
  }
}

}  // namespace embedrt
