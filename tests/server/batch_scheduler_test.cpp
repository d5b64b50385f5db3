// The continuous-batching scheduler, without HTTP or a model: a fake executor records every batch.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "server/batch_scheduler.h"

namespace embedrt::server {
namespace {

using namespace std::chrono_literals;

// A text of `tokens` tokens; `tag` identifies it in the executor's log (ids[0]). A tag of -1
// makes the executor throw.
PreparedText text(size_t tokens, int32_t tag) {
  PreparedText t;
  t.encoding.ids.assign(tokens, 0);
  t.encoding.ids[0] = tag;
  t.tokens = tokens;
  return t;
}

std::shared_ptr<Job> job_of(size_t count, size_t tokens, int32_t first_tag) {
  std::vector<PreparedText> texts;
  for (size_t i = 0; i < count; ++i) texts.push_back(text(tokens, first_tag + int32_t(i)));
  return std::make_shared<Job>(std::move(texts));
}

class FakeExecutor : public BatchExecutor {
 public:
  void run(std::span<PreparedText* const> items, StageTimes*,
           const std::function<void()>&) override {
    {
      std::unique_lock lock(mutex_);
      ++waiting_;
      waiting_cv_.notify_all();
      gate_cv_.wait(lock, [this] { return open_ || permits_ > 0; });
      if (!open_) --permits_;
      --waiting_;
      std::vector<int32_t> tags;
      for (const PreparedText* item : items) tags.push_back(item->encoding.ids[0]);
      batches_.push_back(tags);
    }
    for (PreparedText* item : items) {
      if (item->encoding.ids[0] == -1) throw std::runtime_error("poisoned text");
      item->embedding = {float(item->encoding.ids[0]), float(item->encoding.size())};
    }
  }

  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    gate_cv_.notify_all();
  }
  void allow(int batches) {
    std::lock_guard lock(mutex_);
    permits_ += batches;
    gate_cv_.notify_all();
  }
  // Waits until a batch is held at the gate.
  void wait_for_held_batch() {
    std::unique_lock lock(mutex_);
    waiting_cv_.wait(lock, [this] { return waiting_ > 0; });
  }
  std::vector<std::vector<int32_t>> batches() {
    std::lock_guard lock(mutex_);
    return batches_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable gate_cv_, waiting_cv_;
  bool open_ = false;
  int permits_ = 0;
  int waiting_ = 0;
  std::vector<std::vector<int32_t>> batches_;
};

// Holds every batch run with a checkpoint (a "large" one) until released, calling the checkpoint
// meanwhile as the encoder does between operations; batches run without one finish at once.
class CheckpointingExecutor : public BatchExecutor {
 public:
  void run(std::span<PreparedText* const> items, StageTimes*,
           const std::function<void()>& checkpoint) override {
    std::vector<int32_t> tags;
    for (const PreparedText* item : items) tags.push_back(item->encoding.ids[0]);
    {
      std::lock_guard lock(mutex_);
      started_.push_back(tags);
    }
    while (checkpoint && !released_.load()) {
      checkpoint();
      std::this_thread::sleep_for(1ms);
    }
    for (PreparedText* item : items) item->embedding = {float(item->encoding.ids[0])};
    std::lock_guard lock(mutex_);
    finished_.push_back(tags);
  }
  void release() { released_ = true; }
  bool running_a_large_batch() {
    std::lock_guard lock(mutex_);
    return started_.size() > finished_.size();
  }
  std::vector<std::vector<int32_t>> finished() {
    std::lock_guard lock(mutex_);
    return finished_;
  }

 private:
  std::atomic<bool> released_{false};
  std::mutex mutex_;
  std::vector<std::vector<int32_t>> started_, finished_;
};

void wait_until(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!condition() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(condition());
}

TEST(BatchScheduler, QueryOvertakesARunningBatchAtACheckpoint) {
  CheckpointingExecutor executor;
  std::vector<BatchReport> reports;
  std::mutex reports_mutex;
  BatchScheduler scheduler(
      executor, {.max_batch_tokens = 1000, .max_batch_size = 64, .express_max_tokens = 16},
      [&](const BatchReport& r) {
        std::lock_guard lock(reports_mutex);
        reports.push_back(r);
      });
  auto large = job_of(20, 10, 0);
  scheduler.submit(large);
  wait_until([&] { return executor.running_a_large_batch(); });
  auto query = job_of(1, 12, 9000);
  scheduler.submit(query);
  // Done while the large batch is still running.
  EXPECT_EQ(query->wait(-1, 5s), Job::State::kDone);
  EXPECT_EQ(query->texts()[0].embedding, std::vector<float>{9000.0f});
  EXPECT_EQ(large->state(), Job::State::kQueued);
  executor.release();
  EXPECT_EQ(large->wait(-1, 5s), Job::State::kDone);
  const auto finished = executor.finished();
  ASSERT_EQ(finished.size(), 2u);
  EXPECT_EQ(finished[0], std::vector<int32_t>{9000});
  EXPECT_EQ(finished[1].size(), 20u);
  scheduler.stop();
  std::lock_guard lock(reports_mutex);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_TRUE(reports[0].express);
  EXPECT_EQ(reports[0].texts, 1u);
  EXPECT_FALSE(reports[1].express);
  EXPECT_EQ(reports[1].texts, 20u);
}

TEST(BatchScheduler, RequestsOverTheExpressLimitWaitForTheRunningBatch) {
  CheckpointingExecutor executor;
  BatchScheduler scheduler(
      executor, {.max_batch_tokens = 10, .max_batch_size = 64, .express_max_tokens = 16});
  auto large = job_of(1, 10, 0);
  scheduler.submit(large);
  wait_until([&] { return executor.running_a_large_batch(); });
  auto two_texts = job_of(2, 10, 100);  // 20 tokens in all
  scheduler.submit(two_texts);
  EXPECT_EQ(two_texts->wait(-1, 100ms), Job::State::kQueued);
  executor.release();
  EXPECT_EQ(two_texts->wait(-1, 5s), Job::State::kDone);
  EXPECT_EQ(large->wait(-1, 5s), Job::State::kDone);
  EXPECT_EQ(executor.finished()[0], std::vector<int32_t>{0});
}

TEST(BatchScheduler, ExpressLaneCanBeTurnedOff) {
  CheckpointingExecutor executor;
  BatchScheduler scheduler(executor, {.max_batch_tokens = 10, .max_batch_size = 64});
  auto large = job_of(1, 10, 0);
  scheduler.submit(large);
  std::this_thread::sleep_for(20ms);
  // Without an express lane no checkpoint is passed, so the fake executor does not hold the batch.
  EXPECT_EQ(large->wait(-1, 5s), Job::State::kDone);
  EXPECT_FALSE(executor.running_a_large_batch());
}

TEST(BatchScheduler, ComputesEveryTextAndSkipsCachedOnes) {
  FakeExecutor executor;
  executor.open();
  BatchScheduler scheduler(executor, {.max_batch_tokens = 100, .max_batch_size = 4});
  std::vector<PreparedText> texts;
  for (int i = 0; i < 10; ++i) texts.push_back(text(5, i));
  texts[3].from_cache = true;
  texts[3].embedding = {42.0f};
  auto job = std::make_shared<Job>(std::move(texts));
  ASSERT_TRUE(scheduler.submit(job));
  EXPECT_EQ(job->wait(), Job::State::kDone);
  for (int i = 0; i < 10; ++i) {
    const auto& e = job->texts()[i].embedding;
    if (i == 3) {
      EXPECT_EQ(e, std::vector<float>{42.0f});
    } else {
      ASSERT_EQ(e.size(), 2u);
      EXPECT_EQ(e[0], float(i));
    }
  }
  size_t sent = 0;
  for (const auto& batch : executor.batches()) {
    EXPECT_LE(batch.size(), 4u);
    for (int32_t tag : batch) EXPECT_NE(tag, 3);
    sent += batch.size();
  }
  EXPECT_EQ(sent, 9u);
}

TEST(BatchScheduler, JobWithEverythingCachedFinishesAtOnce) {
  FakeExecutor executor;  // gate closed: any batch would block
  BatchScheduler scheduler(executor, {});
  std::vector<PreparedText> texts(2);
  texts[0].from_cache = texts[1].from_cache = true;
  auto job = std::make_shared<Job>(std::move(texts));
  ASSERT_TRUE(scheduler.submit(job));
  EXPECT_EQ(job->state(), Job::State::kDone);
  executor.open();
}

TEST(BatchScheduler, KeepsBatchesUnderTheTokenBudgetAndGivesLongTextsTheirOwn) {
  FakeExecutor executor;
  BatchScheduler scheduler(executor, {.max_batch_tokens = 20, .max_batch_size = 64});
  std::vector<PreparedText> texts;
  for (int i = 0; i < 8; ++i) texts.push_back(text(6, i));  // 3 per batch
  texts.push_back(text(50, 100));                           // over the budget on its own
  auto job = std::make_shared<Job>(std::move(texts));
  scheduler.submit(job);
  executor.open();
  EXPECT_EQ(job->wait(), Job::State::kDone);
  bool saw_long = false;
  for (const auto& batch : executor.batches()) {
    size_t tokens = 0;
    for (int32_t tag : batch) tokens += tag == 100 ? 50 : 6;
    if (std::find(batch.begin(), batch.end(), 100) != batch.end()) {
      saw_long = true;
      EXPECT_EQ(batch.size(), 1u);
    } else {
      EXPECT_LE(tokens, 20u);
    }
  }
  EXPECT_TRUE(saw_long);
}

TEST(BatchScheduler, MergesTextsOfSeveralRequestsIntoOneBatch) {
  FakeExecutor executor;
  BatchScheduler scheduler(executor, {.max_batch_tokens = 1000, .max_batch_size = 64});
  auto blocker = job_of(1, 4, 1000);
  scheduler.submit(blocker);
  executor.wait_for_held_batch();  // the first batch runs; the next ones queue behind it
  std::vector<std::shared_ptr<Job>> jobs;
  for (int j = 0; j < 5; ++j) {
    jobs.push_back(job_of(3, 4, j * 10));
    scheduler.submit(jobs.back());
  }
  executor.open();
  for (auto& job : jobs) EXPECT_EQ(job->wait(), Job::State::kDone);
  const auto batches = executor.batches();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1].size(), 15u);
}

TEST(BatchScheduler, SmallRequestRidesInTheNextBatchBehindAHugeOne) {
  FakeExecutor executor;
  BatchScheduler scheduler(executor, {.max_batch_tokens = 40, .max_batch_size = 8});
  auto huge = job_of(400, 5, 0);  // 50 batches of 8
  scheduler.submit(huge);
  executor.wait_for_held_batch();
  auto small = job_of(1, 5, 9000);
  scheduler.submit(small);
  executor.allow(1);  // the batch that was running
  executor.allow(1);  // the next one
  EXPECT_EQ(small->wait(-1, 5s), Job::State::kDone);
  const auto batches = executor.batches();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_NE(std::find(batches[1].begin(), batches[1].end(), 9000), batches[1].end());
  // The huge job still moved in that batch.
  EXPECT_GT(std::count_if(batches[1].begin(), batches[1].end(), [](int32_t t) { return t < 400; }),
            0);
  executor.open();
  EXPECT_EQ(huge->wait(), Job::State::kDone);
}

TEST(BatchScheduler, OldestRequestIsNeverStarvedByAStreamOfNewOnes) {
  FakeExecutor executor;
  BatchScheduler scheduler(executor, {.max_batch_tokens = 10, .max_batch_size = 2});
  auto big = job_of(20, 5, 0);
  scheduler.submit(big);
  executor.wait_for_held_batch();
  std::vector<std::shared_ptr<Job>> small;
  for (int round = 0; round < 40 && big->state() == Job::State::kQueued; ++round) {
    // Two new one-text requests per batch would fill every batch on least-attained service
    // alone; the oldest request's guaranteed text keeps the big one moving.
    for (int k = 0; k < 2; ++k) {
      small.push_back(job_of(1, 5, 1000 + round * 2 + k));
      scheduler.submit(small.back());
    }
    executor.allow(1);
    executor.wait_for_held_batch();
  }
  executor.open();
  EXPECT_EQ(big->wait(-1, 5s), Job::State::kDone);
  for (auto& job : small) EXPECT_EQ(job->wait(-1, 5s), Job::State::kDone);
}

TEST(BatchScheduler, CancelledRequestsLeaveTheQueue) {
  FakeExecutor executor;
  BatchScheduler scheduler(executor, {.max_batch_tokens = 10, .max_batch_size = 2});
  auto first = job_of(1, 5, 0);
  scheduler.submit(first);
  executor.wait_for_held_batch();
  auto gone = job_of(50, 5, 100);
  scheduler.submit(gone);
  EXPECT_EQ(scheduler.queued_texts(), 50u);
  gone->cancel();
  EXPECT_EQ(gone->state(), Job::State::kCancelled);
  auto after = job_of(1, 5, 500);
  scheduler.submit(after);
  executor.open();
  EXPECT_EQ(after->wait(-1, 5s), Job::State::kDone);
  for (const auto& batch : executor.batches()) {
    for (int32_t tag : batch) EXPECT_FALSE(tag >= 100 && tag < 150) << tag;
  }
  EXPECT_EQ(scheduler.dropped_texts(), 50u);
  EXPECT_EQ(scheduler.queued_texts(), 0u);
}

TEST(BatchScheduler, WaitNoticesAClientThatHungUp) {
  FakeExecutor executor;  // never runs a batch
  BatchScheduler scheduler(executor, {});
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  auto job = job_of(3, 5, 0);
  scheduler.submit(job);
  std::thread client([&] {
    std::this_thread::sleep_for(50ms);
    ::close(fds[1]);
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(job->wait(fds[0], 5s), Job::State::kCancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  client.join();
  ::close(fds[0]);
  executor.open();
}

TEST(BatchScheduler, WaitWithASocketReturnsWhenDone) {
  FakeExecutor executor;
  executor.open();
  BatchScheduler scheduler(executor, {});
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  auto job = job_of(3, 5, 0);
  scheduler.submit(job);
  EXPECT_EQ(job->wait(fds[0], 5s), Job::State::kDone);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(BatchScheduler, AFailingTextFailsOnlyItsOwnRequest) {
  FakeExecutor executor;
  BatchScheduler scheduler(executor, {.max_batch_tokens = 1000, .max_batch_size = 64});
  auto blocker = job_of(1, 4, 1000);
  scheduler.submit(blocker);
  executor.wait_for_held_batch();
  std::vector<PreparedText> bad;
  bad.push_back(text(4, 7));
  bad.push_back(text(4, -1));
  auto poisoned = std::make_shared<Job>(std::move(bad));
  auto healthy = job_of(3, 4, 20);
  scheduler.submit(poisoned);
  scheduler.submit(healthy);
  executor.open();
  EXPECT_EQ(poisoned->wait(), Job::State::kFailed);
  EXPECT_NE(poisoned->error().find("poisoned"), std::string::npos);
  EXPECT_EQ(healthy->wait(), Job::State::kDone);
  EXPECT_EQ(healthy->texts()[2].embedding.at(0), 22.0f);
}

TEST(BatchScheduler, StopFinishesQueuedWorkAndRefusesNewWork) {
  FakeExecutor executor;
  auto scheduler = std::make_unique<BatchScheduler>(
      executor, SchedulerLimits{.max_batch_tokens = 10, .max_batch_size = 1});
  auto job = job_of(5, 5, 0);
  scheduler->submit(job);
  executor.wait_for_held_batch();
  std::thread stopper([&] { scheduler->stop(); });
  std::this_thread::sleep_for(20ms);
  auto late = job_of(1, 5, 100);
  EXPECT_FALSE(scheduler->submit(late));
  executor.open();
  stopper.join();
  EXPECT_EQ(job->state(), Job::State::kDone);
}

TEST(BatchScheduler, TokenBudgetCanChangeWhileRunning) {
  FakeExecutor executor;
  BatchScheduler scheduler(executor, {.max_batch_tokens = 10, .max_batch_size = 64});
  auto first = job_of(1, 5, 0);
  scheduler.submit(first);
  executor.wait_for_held_batch();
  scheduler.set_token_budget(50);
  EXPECT_EQ(scheduler.token_budget(), 50u);
  auto job = job_of(10, 5, 100);
  scheduler.submit(job);
  executor.open();
  EXPECT_EQ(job->wait(), Job::State::kDone);
  EXPECT_EQ(executor.batches().at(1).size(), 10u);
}

TEST(BatchScheduler, ReportsEveryBatch) {
  FakeExecutor executor;
  executor.open();
  std::mutex mutex;
  size_t texts = 0, tokens = 0;
  BatchScheduler scheduler(executor, {.max_batch_tokens = 12, .max_batch_size = 64},
                           [&](const BatchReport& report) {
                             std::lock_guard lock(mutex);
                             texts += report.texts;
                             tokens += report.tokens;
                           });
  auto job = job_of(7, 3, 0);
  scheduler.submit(job);
  EXPECT_EQ(job->wait(), Job::State::kDone);
  scheduler.stop();
  EXPECT_EQ(texts, 7u);
  EXPECT_EQ(tokens, 21u);
}

}  // namespace
}  // namespace embedrt::server
