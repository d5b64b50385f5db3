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

std::vector<BatchRange> plan_batches(std::span<const size_t> sorted_lengths,
                                     const BatchLimits& limits) {
  const size_t max_texts = std::max<size_t>(1, limits.max_texts);
  std::vector<BatchRange> batches;
  BatchRange current;
  for (size_t i = 0; i < sorted_lengths.size(); ++i) {
    const size_t length = sorted_lengths[i];
    const bool full =
        current.end - current.begin >= max_texts || current.tokens + length > limits.max_tokens;
    if (current.end > current.begin && full) {
      batches.push_back(current);
      current = BatchRange{i, i, 0};
    }
    current.end = i + 1;
    current.tokens += length;
  }
  if (current.end > current.begin) batches.push_back(current);
  return batches;
}

}  // namespace embedrt::runtime
