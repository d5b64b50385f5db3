// Everything `embedrt serve` can be told (flags and EMBEDRT_* variables map onto these).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "embedrt/embedder.h"
#include "embedrt/quantization.h"
#include "server/http_transport.h"

namespace embedrt::server {

struct ServerOptions {
  std::string model;
  std::string served_model_name;  // the "model" in responses; empty = the model folder's name
  std::string host = "127.0.0.1";
  int port = 8080;
  EmbedderOptions engine;  // threads, optimize mode, max input length, cache, precision

  std::string api_key;  // empty = no authentication
  // Tokens per model batch. 0 = the optimize mode's budget (or the tuning file's), adaptive when
  // the mode is or when target_batch_ms is set.
  size_t max_batch_tokens = 0;
  double target_batch_ms = 0;  // adaptive budget's goal for one batch's model time; 0 = none
  // Requests needing at most this many tokens overtake a running batch (BatchScheduler's express
  // lane); 0 = off.
  size_t express_max_tokens = 128;
  size_t max_batch_size = 0;             // texts per model batch; 0 = the engine's batch size
  size_t max_client_batch_size = 2048;   // inputs per request (more: 413)
  size_t max_concurrent_requests = 512;  // requests being handled at once (more: 429)
  bool auto_truncate = false;            // truncate over-long inputs instead of a 422
  size_t payload_limit = 2'000'000;      // request body bytes (more: 413)
  // Ranges for encoding_format int8/uint8 (--calibration / --quantization-ranges); empty = those
  // formats are refused, since ranges taken from a request would make a text's bytes depend on
  // the other texts it came with.
  QuantizationRanges quantization_ranges;

  TransportOptions transport;
  std::chrono::milliseconds shutdown_timeout{30000};  // in-flight work gets this long on SIGTERM
};

// Whether the token budget adapts (see max_batch_tokens), given the loaded model's resolved knobs.
inline bool adaptive_batching(const ServerOptions& options, const ModelInfo& info) {
  return options.max_batch_tokens == 0 && (options.target_batch_ms > 0 || info.adaptive_batching);
}

}  // namespace embedrt::server
