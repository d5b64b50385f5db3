// Cuts length-sorted inputs into model batches under a token budget and a count limit.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "embedrt/encoding.h"

namespace embedrt::runtime {

struct BatchLimits {
  size_t max_texts = 32;
  size_t max_tokens = 16384;  // sum of the sequences' token counts (no padding is computed)
};

// Half-open range [begin, end) of positions in the sorted order.
struct BatchRange {
  size_t begin = 0;
  size_t end = 0;
  size_t tokens = 0;
};

// Returns the positions of `lengths` sorted by ascending length (stable, so equal lengths keep
// their input order).
std::vector<size_t> order_by_length(std::span<const size_t> lengths);

// The batch starting at position `begin` of `sorted_lengths` (begin < size): as many sequences as
// fit both limits, and at least one.
BatchRange next_batch(std::span<const size_t> sorted_lengths, size_t begin,
                      const BatchLimits& limits);

// Consecutive batches over `sorted_lengths`, each within both limits; a sequence longer than the
// token budget gets a batch of its own. Every position is in exactly one batch.
std::vector<BatchRange> plan_batches(std::span<const size_t> sorted_lengths,
                                     const BatchLimits& limits);

// Encodings cut into length-sorted batches: order[k] is the input index at sorted position k.
struct LengthBatches {
  std::vector<size_t> order;
  std::vector<BatchRange> batches;
};
LengthBatches plan_by_length(std::span<const Encoding> encodings, const BatchLimits& limits);

// One batch laid end to end for the encoder: ids, type ids (left empty unless `with_type_ids`)
// and offsets starting at 0, replacing what the vectors held.
struct PackedInputs {
  std::vector<int32_t> ids, type_ids, offsets;
};
void pack_batch(std::span<const Encoding> encodings, const LengthBatches& plan,
                const BatchRange& batch, bool with_type_ids, PackedInputs& out);
// The same for encodings in the order given (a batch merged from several callers' inputs).
void pack_encodings(std::span<const Encoding* const> encodings, bool with_type_ids,
                    PackedInputs& out);

}  // namespace embedrt::runtime
