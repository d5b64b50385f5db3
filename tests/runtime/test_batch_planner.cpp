#include "runtime/batch_planner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace embedrt::runtime {
namespace {

TEST(BatchPlanner, OrdersByLengthKeepingInputOrderForTies) {
  const std::vector<size_t> lengths{5, 3, 5, 1, 3};
  EXPECT_EQ(order_by_length(lengths), (std::vector<size_t>{3, 1, 4, 0, 2}));
}

TEST(BatchPlanner, RespectsTheTokenBudgetAndTheCount) {
  const std::vector<size_t> sorted{2, 2, 3, 3, 4, 10};
  const auto batches = plan_batches(sorted, {/*max_texts=*/3, /*max_tokens=*/8});
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].begin, 0u);
  EXPECT_EQ(batches[0].end, 3u);  // 2+2+3 = 7; adding 3 would pass 8
  EXPECT_EQ(batches[0].tokens, 7u);
  EXPECT_EQ(batches[1].begin, 3u);
  EXPECT_EQ(batches[1].end, 5u);  // 3+4
  EXPECT_EQ(batches[2].begin, 5u);
  EXPECT_EQ(batches[2].end, 6u);  // longer than the budget: a batch of its own
  EXPECT_EQ(batches[2].tokens, 10u);
}

TEST(BatchPlanner, CoversEveryPositionExactlyOnce) {
  std::vector<size_t> sorted;
  for (size_t i = 0; i < 1000; ++i) sorted.push_back(1 + i % 300);
  std::sort(sorted.begin(), sorted.end());
  for (const BatchLimits limits : {BatchLimits{1, 1}, BatchLimits{7, 500}, BatchLimits{64, 4096},
                                   BatchLimits{1000, 1 << 30}}) {
    const auto batches = plan_batches(sorted, limits);
    size_t next = 0;
    for (const BatchRange& b : batches) {
      EXPECT_EQ(b.begin, next);
      EXPECT_GT(b.end, b.begin);
      EXPECT_LE(b.end - b.begin, limits.max_texts);
      size_t tokens = 0;
      for (size_t k = b.begin; k < b.end; ++k) tokens += sorted[k];
      EXPECT_EQ(tokens, b.tokens);
      if (b.end - b.begin > 1) {
        EXPECT_LE(tokens, limits.max_tokens);
      }
      next = b.end;
    }
    EXPECT_EQ(next, sorted.size());
  }
}

TEST(BatchPlanner, EmptyInputHasNoBatches) { EXPECT_TRUE(plan_batches({}, {}).empty()); }

}  // namespace
}  // namespace embedrt::runtime

namespace embedrt::runtime {
namespace {

Encoding encoding_of(std::vector<int32_t> ids, int32_t type) {
  Encoding e;
  e.type_ids.assign(ids.size(), type);
  e.ids = std::move(ids);
  return e;
}

TEST(PlanByLength, SortsEncodingsByLengthAndPacksEachBatchEndToEnd) {
  const std::vector<Encoding> encodings{encoding_of({1, 2, 3}, 0), encoding_of({4}, 1),
                                        encoding_of({5, 6}, 0)};
  const LengthBatches plan = plan_by_length(encodings, {2, 100});
  EXPECT_EQ(plan.order, (std::vector<size_t>{1, 2, 0}));
  ASSERT_EQ(plan.batches.size(), 2u);
  PackedInputs in;
  pack_batch(encodings, plan, plan.batches[0], /*with_type_ids=*/true, in);
  EXPECT_EQ(in.ids, (std::vector<int32_t>{4, 5, 6}));
  EXPECT_EQ(in.type_ids, (std::vector<int32_t>{1, 0, 0}));
  EXPECT_EQ(in.offsets, (std::vector<int32_t>{0, 1, 3}));
  pack_batch(encodings, plan, plan.batches[1], /*with_type_ids=*/false, in);
  EXPECT_EQ(in.ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_TRUE(in.type_ids.empty());
  EXPECT_EQ(in.offsets, (std::vector<int32_t>{0, 3}));
}

}  // namespace
}  // namespace embedrt::runtime
