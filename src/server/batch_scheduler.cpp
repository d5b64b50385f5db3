#include "server/batch_scheduler.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <limits>

#include "embedrt/error.h"

namespace embedrt::server {
namespace {

double ms_between(std::chrono::steady_clock::time_point a,
                  std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

Job::Job(std::vector<PreparedText> texts) : texts_(std::move(texts)) {
  for (size_t i = 0; i < texts_.size(); ++i) {
    if (!texts_[i].from_cache) pending_.push_back(i);
  }
  event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd_ < 0) throw Error(ErrorCode::kInternal, "eventfd failed");
}

Job::~Job() {
  if (event_fd_ >= 0) ::close(event_fd_);
}

Job::State Job::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

void Job::finish(State state, std::string error) {
  {
    std::lock_guard lock(mutex_);
    if (state_ != State::kQueued) return;
    state_ = state;
    error_ = std::move(error);
  }
  done_cv_.notify_all();
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t written = ::write(event_fd_, &one, sizeof(one));
}

void Job::cancel() {
  cancelled_.store(true, std::memory_order_relaxed);
  finish(State::kCancelled);
}

Job::State Job::wait(int watch_fd, std::chrono::milliseconds timeout) {
  if (watch_fd < 0) {
    std::unique_lock lock(mutex_);
    const auto finished = [this] { return state_ != State::kQueued; };
    if (timeout.count() < 0) {
      done_cv_.wait(lock, finished);
    } else {
      done_cv_.wait_for(lock, timeout, finished);
    }
    return state_;
  }
  // One poll on both: the job's completion and the client's socket hanging up (POLLRDHUP:
  // the peer closed its side; POLLHUP/POLLERR: reset). POLLIN is not asked for, so a client
  // that pipelines its next request does not wake this up.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (State s = state(); s != State::kQueued) return s;
    pollfd fds[2] = {{event_fd_, POLLIN, 0}, {watch_fd, POLLRDHUP, 0}};
    int wait_ms = -1;
    if (timeout.count() >= 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return state();
      wait_ms = static_cast<int>(std::min<int64_t>(left.count(), std::numeric_limits<int>::max()));
    }
    const int ready = ::poll(fds, 2, wait_ms);
    if (ready < 0 && errno != EINTR) return state();
    if (ready > 0 && (fds[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
      if (state() == State::kQueued) cancel();
      return state();
    }
  }
}

BatchScheduler::BatchScheduler(BatchExecutor& executor, SchedulerLimits limits,
                               BatchObserver observer)
    : executor_(executor),
      limits_(limits),
      observer_(std::move(observer)),
      budget_(std::max<size_t>(1, limits.max_batch_tokens)) {
  limits_.max_batch_size = std::max<size_t>(1, limits_.max_batch_size);
  thread_ = std::thread([this] { loop(); });
}

BatchScheduler::~BatchScheduler() { stop(); }

void BatchScheduler::set_token_budget(size_t tokens) {
  budget_.store(std::max<size_t>(1, tokens), std::memory_order_relaxed);
}

size_t BatchScheduler::queued_texts() const {
  std::lock_guard lock(mutex_);
  return queued_texts_;
}

size_t BatchScheduler::queued_jobs() const {
  std::lock_guard lock(mutex_);
  return jobs_.size();
}

bool BatchScheduler::submit(const std::shared_ptr<Job>& job) {
  const size_t n = job->pending_.size();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    if (limits_.max_queued_texts > 0 && n > 0 && queued_texts_ + n > limits_.max_queued_texts) {
      return false;
    }
    job->submitted_ = std::chrono::steady_clock::now();
    if (n > 0) {
      job->sequence_ = next_sequence_++;
      jobs_.push_back(job);
      queued_texts_ += n;
    }
  }
  if (n == 0) {
    job->finish(Job::State::kDone);
  } else {
    work_cv_.notify_one();
  }
  return true;
}

void BatchScheduler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool BatchScheduler::take_batch(Batch& batch) {
  // Forget jobs whose client left: their undispatched texts never reach the model.
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    Job& job = **it;
    if (job.cancelled_.load(std::memory_order_relaxed) || job.failed_in_batch_) {
      const size_t left = job.pending_.size() - job.dispatched_;
      queued_texts_ -= left;
      if (job.cancelled_.load(std::memory_order_relaxed)) {
        dropped_.fetch_add(left, std::memory_order_relaxed);
      }
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
  if (jobs_.empty()) return false;

  const size_t budget = budget_.load(std::memory_order_relaxed);
  const size_t max_size = limits_.max_batch_size;
  std::vector<size_t> taken(jobs_.size(), 0);
  std::vector<bool> blocked(jobs_.size(), false);
  size_t count = 0;

  // Takes job i's next text if it fits (a lone text always fits: an over-budget text gets a
  // batch of its own).
  const auto try_take = [&](size_t i) {
    Job& job = *jobs_[i];
    const size_t next = job.dispatched_ + taken[i];
    if (next >= job.pending_.size()) {
      blocked[i] = true;
      return;
    }
    const size_t tokens = job.texts_[job.pending_[next]].encoding.size();
    if (count > 0 && (batch.tokens + tokens > budget || count >= max_size)) {
      blocked[i] = true;
      return;
    }
    batch.tokens += tokens;
    ++taken[i];
    ++count;
  };

  try_take(0);  // the oldest job always moves
  while (count < max_size) {
    // Least attained service first; ties go to the older job.
    size_t best = jobs_.size();
    for (size_t i = 0; i < jobs_.size(); ++i) {
      if (blocked[i]) continue;
      if (best == jobs_.size() ||
          jobs_[i]->dispatched_ + taken[i] < jobs_[best]->dispatched_ + taken[best]) {
        best = i;
      }
    }
    if (best == jobs_.size()) break;
    try_take(best);
  }

  dispatch(batch, taken);
  return true;
}

bool BatchScheduler::take_express_batch(Batch& batch) {
  const size_t budget = limits_.express_max_tokens;
  if (budget == 0) return false;
  std::vector<size_t> taken(jobs_.size(), 0);
  size_t count = 0;
  for (size_t i = 0; i < jobs_.size(); ++i) {
    Job& job = *jobs_[i];
    if (job.started_ || job.failed_in_batch_ || job.cancelled_.load(std::memory_order_relaxed) ||
        job.pending_.size() > budget) {
      continue;
    }
    size_t tokens = 0;
    for (size_t k : job.pending_) tokens += job.texts_[k].encoding.size();
    if (batch.tokens + tokens > budget || count + job.pending_.size() > limits_.max_batch_size) {
      continue;
    }
    batch.tokens += tokens;
    taken[i] = job.pending_.size();
    count += taken[i];
  }
  if (count == 0) return false;
  dispatch(batch, taken);
  return true;
}

void BatchScheduler::dispatch(Batch& batch, const std::vector<size_t>& taken) {
  // Each job's texts stay together in the batch, so that a failed batch can be re-run one
  // request at a time.
  const auto now = std::chrono::steady_clock::now();
  size_t count = 0;
  for (size_t n : taken) count += n;
  batch.items.reserve(count);
  for (size_t i = 0; i < jobs_.size(); ++i) {
    if (taken[i] == 0) continue;
    Job& job = *jobs_[i];
    if (!job.started_) {
      job.started_ = true;
      job.queue_ms_ = ms_between(job.submitted_, now);
    }
    for (size_t k = job.dispatched_; k < job.dispatched_ + taken[i]; ++k) {
      batch.items.push_back(&job.texts_[job.pending_[k]]);
    }
    job.dispatched_ += taken[i];
    queued_texts_ -= taken[i];
    batch.members.emplace_back(jobs_[i], taken[i]);
  }
  // Fully dispatched jobs leave the queue; their batches still hold them.
  std::erase_if(jobs_, [](const std::shared_ptr<Job>& job) {
    return job->dispatched_ == job->pending_.size();
  });
}

void BatchScheduler::loop() {
  while (true) {
    Batch batch;
    {
      std::unique_lock lock(mutex_);
      work_cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (!take_batch(batch)) {
        if (stopping_) return;
        continue;
      }
    }
    run_batch(batch, false);
  }
}

double BatchScheduler::run_express_batch() {
  Batch batch;
  {
    std::lock_guard lock(mutex_);
    if (!take_express_batch(batch)) return 0;
  }
  const auto start = std::chrono::steady_clock::now();
  run_batch(batch, true);
  return ms_between(start, std::chrono::steady_clock::now());
}

void BatchScheduler::run_batch(Batch& batch, bool express) {
  const auto start = std::chrono::steady_clock::now();
  // One express batch per checkpoint at most, so a stream of queries slows a large batch down
  // by a bounded share instead of stalling it.
  double express_ms = 0;
  std::function<void()> checkpoint;
  if (!express && limits_.express_max_tokens > 0) {
    checkpoint = [&] { express_ms += run_express_batch(); };
  }
  BatchReport report;
  report.express = express;
  report.texts = batch.items.size();
  report.tokens = batch.tokens;
  report.jobs = batch.members.size();
  std::vector<std::string> errors(batch.members.size());  // non-empty: that request failed
  try {
    executor_.run(batch.items, &report.stages, checkpoint);
  } catch (const std::exception& e) {
    report.failed = true;
    const std::string error = *e.what() ? e.what() : "model batch failed";
    // Run each request's texts on their own, so that only the one that fails is failed.
    size_t offset = 0;
    for (size_t m = 0; m < batch.members.size(); ++m) {
      const size_t count = batch.members[m].second;
      if (batch.members.size() == 1) {
        errors[m] = error;
        break;
      }
      try {
        executor_.run(std::span(batch.items).subspan(offset, count), &report.stages, {});
      } catch (const std::exception& inner) {
        errors[m] = *inner.what() ? inner.what() : "model batch failed";
      }
      offset += count;
    }
  }
  report.duration_ms = ms_between(start, std::chrono::steady_clock::now()) - express_ms;
  complete(batch, errors, report.duration_ms);
  if (observer_) observer_(report);
}

void BatchScheduler::complete(Batch& batch, std::vector<std::string>& errors, double duration_ms) {
  std::vector<std::pair<std::shared_ptr<Job>, Job::State>> finished;
  std::vector<std::string> messages;
  {
    std::lock_guard lock(mutex_);
    for (size_t m = 0; m < batch.members.size(); ++m) {
      auto& [job, count] = batch.members[m];
      job->inference_ms_ += duration_ms;
      job->completed_ += count;
      if (!errors[m].empty() && !job->failed_in_batch_) {
        job->failed_in_batch_ = true;
        finished.emplace_back(job, Job::State::kFailed);
        messages.push_back(std::move(errors[m]));
      } else if (!job->failed_in_batch_ && job->completed_ == job->pending_.size()) {
        finished.emplace_back(job, Job::State::kDone);
        messages.emplace_back();
      }
    }
  }
  for (size_t i = 0; i < finished.size(); ++i) {
    finished[i].first->finish(finished[i].second, std::move(messages[i]));
  }
}

}  // namespace embedrt::server
