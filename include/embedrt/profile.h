// Where time and memory go in an encode() call: real measurements, never estimates.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace embedrt {

// Time inside the encoder, by operation, summed over layers and batches.
struct InferenceOpTimes {
  double embeddings_ms = 0;        // word + position + type embeddings and their LayerNorm
  double qkv_ms = 0;               // fused QKV projection
  double attention_ms = 0;         // scaled dot-product attention per sequence
  double attention_output_ms = 0;  // output projection + residual + LayerNorm
  double ffn_up_ms = 0;            // intermediate projection + activation
  double ffn_down_ms = 0;          // output projection + residual + LayerNorm

  InferenceOpTimes& operator+=(const InferenceOpTimes& other);
};

// Wall-clock milliseconds per stage. Stages do not overlap in time, so they add up to the total
// up to the untimed glue between them.
struct StageTimes {
  double tokenization_ms = 0;
  double tensor_conversion_ms = 0;  // packing ids and offsets into batch buffers
  double model_inference_ms = 0;
  double pooling_ms = 0;
  double normalization_ms = 0;
  InferenceOpTimes ops;

  StageTimes& operator+=(const StageTimes& other);
};

struct EncodeProfile {
  StageTimes stages;
  double total_ms = 0;
  size_t texts = 0;
  size_t tokens = 0;
  size_t batches = 0;
  size_t cache_hits = 0;
  double tokens_per_second = 0;
  double embeddings_per_second = 0;
  double memory_peak_mb = 0;  // the process's peak resident set, from the operating system
  double buffer_peak_mb = 0;  // the engine's activation buffers at their largest
  std::optional<double> gpu_utilization_percent;  // from NVML when a GPU backend ran; else empty
  // Tokenization of the next chunk that ran beside the model on another thread; only the time the
  // model had to wait for it counts in stages.tokenization_ms.
  double overlapped_tokenization_ms = 0;
  std::string precision;                     // effective precision
  std::vector<std::string> tuner_decisions;  // adaptive tuner actions during the call

  // Adds another call's figures (for callers that encode a stream in several calls): times,
  // counts and decisions add up, rates are recomputed, peaks take the larger.
  EncodeProfile& operator+=(const EncodeProfile& other);
};

// Renders a profile as a readable table (for --profile) and as the JSON object --profile-json
// writes (keys tokenization_ms, tensor_conversion_ms, model_inference_ms, pooling_ms,
// normalization_ms, total_ms, tokens_per_second, memory_peak_mb, gpu_utilization_percent, ...).
std::string format_profile_table(const EncodeProfile& profile);
std::string format_profile_json(const EncodeProfile& profile);

// The process's peak resident set size in bytes (VmHWM), 0 where the OS does not say.
size_t process_peak_rss_bytes();
// The process's current resident set size in bytes (VmRSS), 0 where the OS does not say.
size_t process_rss_bytes();

}  // namespace embedrt
