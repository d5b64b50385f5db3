// Continuous batching: requests hand in prepared (tokenized) texts, one scheduler thread merges
// the texts of all waiting requests into model batches under a token budget and runs them.
//
// Fairness: each batch first gives one text to the oldest waiting request (so every request
// keeps moving and none starves), then fills up with texts of the requests that have had the
// fewest texts dispatched so far (least attained service). A one-text request arriving behind a
// 2,000-text one therefore rides in the very next batch, and the big one still progresses.
//
// Express lane: a request small enough (a query or two, express_max_tokens) that arrives while a
// batch runs does not wait for that batch: it runs at the batch's next checkpoint, between two
// encoder operations, and the batch then goes on. Its wait is one operation instead of one
// batch, so large batches (efficient) and quick queries (responsive) no longer conflict.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "embedrt/embedder.h"
#include "embedrt/profile.h"
#include "embedrt/reranker.h"
#include "embedrt/sparse_encoder.h"

namespace embedrt::server {

// Runs one model batch: fills every item's embedding (or scores, or sparse vector) or throws.
class BatchExecutor {
 public:
  virtual ~BatchExecutor() = default;
  // `checkpoint`, when set, must be called now and then while the batch runs (between
  // operations); it may call run() again for other items.
  virtual void run(std::span<PreparedText* const> items, StageTimes* times,
                   const std::function<void()>& checkpoint) = 0;
};

// Embedder::embed_batch as an executor.
class EmbedderExecutor : public BatchExecutor {
 public:
  explicit EmbedderExecutor(const Embedder& embedder) : embedder_(embedder) {}
  void run(std::span<PreparedText* const> items, StageTimes* times,
           const std::function<void()>& checkpoint) override {
    embedder_.embed_batch(items, times, checkpoint);
  }

 private:
  const Embedder& embedder_;
};

// Reranker::score_batch as an executor: each item's `embedding` gets its logits.
class RerankerExecutor : public BatchExecutor {
 public:
  explicit RerankerExecutor(const Reranker& reranker) : reranker_(reranker) {}
  void run(std::span<PreparedText* const> items, StageTimes* times,
           const std::function<void()>& checkpoint) override {
    reranker_.score_batch(items, times, checkpoint);
  }

 private:
  const Reranker& reranker_;
};

// SparseEncoder::encode_batch as an executor: each item gets its sparse_indices and values.
class SparseExecutor : public BatchExecutor {
 public:
  explicit SparseExecutor(const SparseEncoder& encoder) : encoder_(encoder) {}
  void run(std::span<PreparedText* const> items, StageTimes* times,
           const std::function<void()>& checkpoint) override {
    encoder_.encode_batch(items, times, checkpoint);
  }

 private:
  const SparseEncoder& encoder_;
};

// One request's texts. Shared by the request's thread and the scheduler, so that a request that
// gives up (its client left) never frees texts a running batch still writes to.
class Job {
 public:
  enum class State { kQueued, kDone, kFailed, kCancelled };

  // Texts already answered from the cache are not computed again.
  explicit Job(std::vector<PreparedText> texts);
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  // Blocks until the job is done or failed. With `watch_fd` >= 0 (the client's socket) it also
  // returns, cancelling the job, as soon as the peer hangs up; with a `timeout` it returns the
  // current state when that passes.
  State wait(int watch_fd = -1, std::chrono::milliseconds timeout = std::chrono::milliseconds(-1));
  // Drops the texts not yet dispatched; a batch already running finishes.
  void cancel();

  State state() const;
  const std::string& error() const { return error_; }  // valid once failed
  std::vector<PreparedText>& texts() { return texts_; }
  size_t pending_texts() const { return pending_.size(); }  // texts sent to the model

  double queue_ms() const { return queue_ms_; }          // submission to first dispatch
  double inference_ms() const { return inference_ms_; }  // batches this job took part in

 private:
  friend class BatchScheduler;
  void finish(State state, std::string error = {});

  std::vector<PreparedText> texts_;
  std::vector<size_t> pending_;  // indices into texts_ that need the model, in order
  // Guarded by the scheduler's mutex.
  uint64_t sequence_ = 0;
  size_t dispatched_ = 0;
  size_t completed_ = 0;
  bool failed_in_batch_ = false;
  std::chrono::steady_clock::time_point submitted_;
  bool started_ = false;
  double queue_ms_ = 0;
  double inference_ms_ = 0;

  std::atomic<bool> cancelled_{false};
  mutable std::mutex mutex_;
  std::condition_variable done_cv_;
  State state_ = State::kQueued;
  std::string error_;
  int event_fd_ = -1;  // readable once the job is finished
};

struct SchedulerLimits {
  size_t max_batch_tokens = 2048;
  size_t max_batch_size = 64;
  size_t max_queued_texts = 0;  // 0 = unbounded (callers bound it by limiting requests)
  // A request needing at most this many tokens in all may overtake a running batch (see the
  // express lane above); an express batch holds at most this many tokens. 0 = no express lane.
  size_t express_max_tokens = 0;
};

// What one batch looked like, for metrics and the token-budget tuner.
struct BatchReport {
  size_t texts = 0;
  size_t tokens = 0;
  size_t jobs = 0;
  double duration_ms = 0;  // express batches run inside it are not counted
  bool express = false;    // overtook a running batch
  StageTimes stages;
  bool failed = false;
};

class BatchScheduler {
 public:
  using BatchObserver = std::function<void(const BatchReport&)>;

  BatchScheduler(BatchExecutor& executor, SchedulerLimits limits, BatchObserver observer = {});
  ~BatchScheduler();  // stops (draining) if still running
  BatchScheduler(const BatchScheduler&) = delete;
  BatchScheduler& operator=(const BatchScheduler&) = delete;

  // Queues the job's texts that need the model; a job with none is finished at once. Returns
  // false (the job untouched) when stopping or when the queue bound would be exceeded.
  bool submit(const std::shared_ptr<Job>& job);

  // The token budget may change while running (the adaptive tuner, or an operator).
  void set_token_budget(size_t tokens);
  size_t token_budget() const { return budget_.load(std::memory_order_relaxed); }
  size_t max_batch_size() const { return limits_.max_batch_size; }

  size_t queued_texts() const;  // dispatched not yet
  size_t queued_jobs() const;
  uint64_t dropped_texts() const { return dropped_.load(std::memory_order_relaxed); }

  // Finishes every queued job, then ends the scheduler thread. Idempotent.
  void stop();

 private:
  struct Batch {
    std::vector<PreparedText*> items;
    std::vector<std::pair<std::shared_ptr<Job>, size_t>> members;  // job, texts taken
    size_t tokens = 0;
  };

  void loop();
  bool take_batch(Batch& batch);          // under mutex_
  bool take_express_batch(Batch& batch);  // under mutex_
  // Moves `taken[i]` texts of jobs_[i] into the batch for every i. Under mutex_.
  void dispatch(Batch& batch, const std::vector<size_t>& taken);
  void run_batch(Batch& batch, bool express);
  double run_express_batch();  // returns its duration in ms (0: nothing to run)
  void complete(Batch& batch, std::vector<std::string>& errors, double duration_ms);

  BatchExecutor& executor_;
  SchedulerLimits limits_;
  BatchObserver observer_;
  std::atomic<size_t> budget_;
  std::atomic<uint64_t> dropped_{0};

  mutable std::mutex mutex_;
  std::condition_variable work_cv_;
  std::deque<std::shared_ptr<Job>> jobs_;  // arrival order; all have texts left to dispatch
  size_t queued_texts_ = 0;
  uint64_t next_sequence_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace embedrt::server
