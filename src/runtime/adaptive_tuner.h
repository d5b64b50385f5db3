// An online controller for the token budget (tokens per model batch), fed with what each batch
// cost.
//
//   runtime::AdaptiveTuner tuner({.initial_budget = 4096});
//   while (work) {
//     batch = take_texts_up_to(tuner.token_budget());
//     ms = run(batch);
//     if (auto decision = tuner.observe(batch.tokens, batch.texts, ms)) log(*decision);
//   }
//
// Observations are grouped into windows of `window` batches at one budget; only whole windows
// are compared, so one noisy batch moves nothing.
//
// Without a target latency it maximizes throughput (tokens per second over a window) by pattern
// search in log(budget): from the current budget it probes one step up, then (if that was not
// better) one step down; a probe is taken only when its throughput beats the current budget's by
// more than `dead_band`, so on a plateau it never drifts. When neither side wins the step is
// halved; below `min_step` the search is over and the budget held. While held, a throughput that
// moves by more than `change_threshold` for two windows in a row (the cost changed: other load,
// other texts) restarts the search with the initial step.
//
// With a target latency it keeps the window's 90th-percentile batch latency inside
// [target·(1 − dead_band), target]: above the target it scales the budget down, below the band it
// scales it up, in proportion to target / p90 (aiming at the middle of the band, at most ×2 or ÷2
// per window); inside the band it holds. The budget grows only while batches fill it (their
// largest reaches `fill_fraction` of the budget): when the queue, not the budget, limits batch
// size, a larger budget would change nothing and would only be a promise the next burst breaks.
//
// Every change returns (and records) one short line such as
// "token budget 4096 -> 6144: throughput +8% over window".
//
// Thread-safe: observe() and the accessors may be called from several threads.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace embedrt::runtime {

class AdaptiveTuner {
 public:
  struct Config {
    size_t initial_budget = 4096;
    size_t min_budget = 256;
    size_t max_budget = 65536;
    size_t granularity = 64;  // budgets are multiples of this (and at least min_budget)
    std::optional<double> target_latency_ms;  // empty = maximize throughput
    size_t window = 8;                        // batches per decision
    size_t settle = 1;  // batches ignored after a change (they may have been formed before it)
    double dead_band = 0.05;         // relative throughput gain that counts; relative latency band
    double initial_step = 0.5;       // first probe: budget × 1.5 or ÷ 1.5
    double min_step = 0.07;          // search ends when the step halves below this
    double change_threshold = 0.15;  // relative throughput change that restarts a held search
    double fill_fraction = 0.8;      // batches "fill" the budget when the largest reaches this
  };

  // Throws kInvalidArgument naming the field for inconsistent bounds or non-positive values.
  explicit AdaptiveTuner(Config config);

  // The budget to form the next batch with.
  size_t token_budget() const;

  // Records one batch: its tokens, its texts and its wall-clock latency. Returns a one-line
  // description when the budget changes (or the search settles), else nothing. Batches with no
  // tokens or a non-positive latency are ignored.
  std::optional<std::string> observe(size_t batch_tokens, size_t batch_texts, double latency_ms);

  // True once the throughput search has settled on a budget (always false with a target).
  bool converged() const;
  // Every decision returned so far, oldest first (the last 256).
  std::vector<std::string> decisions() const;
  const Config& config() const noexcept { return config_; }

 private:
  struct Window {
    size_t tokens = 0, texts = 0, batches = 0, largest = 0;
    double ms = 0;
    std::vector<double> latencies;
  };
  enum class Phase { kMeasureCenter, kProbeUp, kProbeDown, kHeld };

  std::optional<std::string> decide_throughput(const Window& w);
  // Makes the current budget the center, measured at `throughput`, and sends the first probe.
  std::optional<std::string> start_search(double throughput, const std::string& prefix);
  std::optional<std::string> decide_latency(const Window& w);
  std::optional<std::string> move_to(size_t budget, const std::string& why);
  // The next probe from the center in `direction` (+1 up, -1 down), or the center itself when the
  // bounds leave no room on that side.
  size_t probe_budget(int direction) const;
  // Advances the search after the probe in `tried` failed: the other side, or a smaller step.
  std::optional<std::string> after_failed_probe(int tried, const std::string& why);
  size_t clamp(double budget) const;
  std::optional<std::string> record(std::optional<std::string> decision);

  const Config config_;
  mutable std::mutex mutex_;
  size_t budget_;
  size_t skip_ = 0;
  Window window_;

  // Throughput search state.
  Phase phase_ = Phase::kMeasureCenter;
  size_t center_ = 0;
  double center_throughput_ = 0;  // tokens per ms at center_
  double step_ = 0;
  int preferred_direction_ = +1;
  bool probed_other_side_ = false;
  int drift_windows_ = 0;

  std::deque<std::string> decisions_;
};

}  // namespace embedrt::runtime
