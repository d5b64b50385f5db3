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

LengthBatches plan_by_length(std::span<const Encoding> encodings, const BatchLimits& limits) {
  std::vector<size_t> lengths(encodings.size());
  for (size_t i = 0; i < encodings.size(); ++i) lengths[i] = encodings[i].size();
  LengthBatches plan;
  plan.order = order_by_length(lengths);
  std::vector<size_t> sorted(plan.order.size());
  for (size_t k = 0; k < plan.order.size(); ++k) sorted[k] = lengths[plan.order[k]];
  plan.batches = plan_batches(sorted, limits);
  return plan;
}

void pack_batch(std::span<const Encoding> encodings, const LengthBatches& plan,
                const BatchRange& batch, bool with_type_ids, PackedInputs& out) {
  std::vector<const Encoding*> members;
  members.reserve(batch.end - batch.begin);
  for (size_t k = batch.begin; k < batch.end; ++k) members.push_back(&encodings[plan.order[k]]);
  pack_encodings(members, with_type_ids, out);
}

void pack_encodings(std::span<const Encoding* const> encodings, bool with_type_ids,
                    PackedInputs& out) {
  out.ids.clear();
  out.type_ids.clear();
  out.offsets.assign(1, 0);
  for (const Encoding* e : encodings) {
    out.ids.insert(out.ids.end(), e->ids.begin(), e->ids.end());
    if (with_type_ids) {
      // A sequence without type ids (a single text) is all segment 0.
      if (e->type_ids.size() == e->ids.size()) {
        out.type_ids.insert(out.type_ids.end(), e->type_ids.begin(), e->type_ids.end());
      } else {
        out.type_ids.resize(out.ids.size(), 0);
      }
    }
    out.offsets.push_back(static_cast<int32_t>(out.ids.size()));
  }
}

}  // namespace embedrt::runtime
