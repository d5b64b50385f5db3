// The concrete knobs behind each OptimizeMode, with the caller's explicit options applied.
#pragma once

#include <cstddef>

#include "embedrt/embedder.h"
#include "model/transformer_encoder.h"

namespace embedrt {

struct ResolvedKnobs {
  Precision precision = Precision::kF32;  // requested; the encoder may still fall back
  int threads = 1;
  size_t batch_size = 128;
  size_t max_batch_tokens = 8192;
  size_t cache_bytes = 0;
  bool deterministic = true;
  bool adaptive_batching = false;
};

// Throws kInvalidArgument for out-of-range options.
ResolvedKnobs resolve_knobs(const EmbedderOptions& options);

// The encoder options for a requested precision, and the public name of the precision an encoder
// runs in.
model::EncoderOptions encoder_options(Precision precision);
Precision public_precision(kernels::Precision precision);

}  // namespace embedrt
