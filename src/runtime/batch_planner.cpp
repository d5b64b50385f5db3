#include "runtime/batch_planner.h"

#include <algorithm>
#include <numeric>

namespace embedrt::runtime {

std::vector<size_t> order_by_length(std::span<const size_t> lengths) {
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return lengths[a] < lengths[b]; });
  return order;
}

BatchRange next_batch(std::span<const size_t> sorted_lengths, size_t begin,
                      const BatchLimits& limits) {
  const size_t max_texts = std::max<size_t>(1, limits.max_texts);
  BatchRange batch{begin, begin, 0};
  while (batch.end < sorted_lengths.size() && batch.end - batch.begin < max_texts) {
    const size_t length = sorted_lengths[batch.end];
    if (batch.end > batch.begin && batch.tokens + length > limits.max_tokens) break;
    batch.tokens += length;
    ++batch.end;
  }
  return batch;
}

std::vector<BatchRange> plan_batches(std::span<const size_t> sorted_lengths,
                                     const BatchLimits& limits) {
  std::vector<BatchRange> batches;
  for (size_t begin = 0; begin < sorted_lengths.size(); begin = batches.back().end) {
    batches.push_back(next_batch(sorted_lengths, begin, limits));
  }
  return batches;
}

}  // namespace embedrt::runtime
