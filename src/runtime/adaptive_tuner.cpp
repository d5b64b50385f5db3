#include "runtime/adaptive_tuner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "embedrt/error.h"

namespace embedrt::runtime {
namespace {

constexpr size_t kMaxDecisions = 256;

std::string format_number(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string percent(double relative) {
  char text[32];
  std::snprintf(text, sizeof text, "%+ld%%", std::lround(relative * 100.0));
  return text;
}

// Tokens per second from tokens per millisecond, as people read it.
std::string rate(double tokens_per_ms) { return format_number(tokens_per_ms * 1000.0, 0); }

double percentile90(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  // Nearest rank: the smallest value with at least 90% of the window at or below it.
  const size_t rank = static_cast<size_t>(std::ceil(0.9 * static_cast<double>(values.size())));
  return values[std::max<size_t>(rank, 1) - 1];
}

void require(bool ok, const std::string& what) {
  if (!ok) throw Error(ErrorCode::kInvalidArgument, "adaptive tuner: " + what);
}

}  // namespace

AdaptiveTuner::AdaptiveTuner(Config config) : config_(config) {
  require(config_.granularity >= 1, "granularity must be >= 1");
  require(config_.min_budget >= 1, "min_budget must be >= 1");
  require(config_.max_budget >= config_.min_budget,
          "max_budget " + std::to_string(config_.max_budget) + " is below min_budget " +
              std::to_string(config_.min_budget));
  require(config_.window >= 1, "window must be >= 1");
  require(config_.dead_band >= 0 && config_.dead_band < 1, "dead_band must be in [0, 1)");
  require(config_.initial_step > 0, "initial_step must be > 0");
  require(config_.min_step > 0 && config_.min_step <= config_.initial_step,
          "min_step must be in (0, initial_step]");
  require(config_.change_threshold > 0, "change_threshold must be > 0");
  require(config_.fill_fraction > 0 && config_.fill_fraction <= 1,
          "fill_fraction must be in (0, 1]");
  require(!config_.target_latency_ms || *config_.target_latency_ms > 0,
          "target_latency_ms must be > 0");
  budget_ = clamp(static_cast<double>(config_.initial_budget));
  center_ = budget_;
  step_ = config_.initial_step;
}

size_t AdaptiveTuner::token_budget() const {
  std::lock_guard lock(mutex_);
  return budget_;
}

bool AdaptiveTuner::converged() const {
  std::lock_guard lock(mutex_);
  return !config_.target_latency_ms && phase_ == Phase::kHeld;
}

std::vector<std::string> AdaptiveTuner::decisions() const {
  std::lock_guard lock(mutex_);
  return {decisions_.begin(), decisions_.end()};
}

size_t AdaptiveTuner::clamp(double budget) const {
  const double g = static_cast<double>(config_.granularity);
  double rounded = std::round(budget / g) * g;
  rounded = std::clamp(rounded, static_cast<double>(config_.min_budget),
                       static_cast<double>(config_.max_budget));
  return static_cast<size_t>(rounded);
}

std::optional<std::string> AdaptiveTuner::record(std::optional<std::string> decision) {
  if (decision) {
    decisions_.push_back(*decision);
    if (decisions_.size() > kMaxDecisions) decisions_.pop_front();
  }
  return decision;
}

std::optional<std::string> AdaptiveTuner::observe(size_t batch_tokens, size_t batch_texts,
                                                  double latency_ms) {
  if (batch_tokens == 0 || !(latency_ms > 0) || !std::isfinite(latency_ms)) return std::nullopt;
  std::lock_guard lock(mutex_);
  if (skip_ > 0) {
    --skip_;
    return std::nullopt;
  }
  Window& w = window_;
  w.tokens += batch_tokens;
  w.texts += batch_texts;
  w.batches += 1;
  w.largest = std::max(w.largest, batch_tokens);
  w.ms += latency_ms;
  w.latencies.push_back(latency_ms);
  if (w.batches < config_.window) return std::nullopt;
  const Window full = std::move(window_);
  window_ = Window{};
  return record(config_.target_latency_ms ? decide_latency(full) : decide_throughput(full));
}

std::optional<std::string> AdaptiveTuner::move_to(size_t budget, const std::string& why) {
  const size_t from = budget_;
  budget_ = budget;
  if (budget == from) return "token budget held at " + std::to_string(from) + ": " + why;
  skip_ = config_.settle;
  return "token budget " + std::to_string(from) + " -> " + std::to_string(budget) + ": " + why;
}

size_t AdaptiveTuner::probe_budget(int direction) const {
  const double factor = 1.0 + step_;
  const double target =
      direction > 0 ? static_cast<double>(center_) * factor : static_cast<double>(center_) / factor;
  return clamp(target);
}

std::optional<std::string> AdaptiveTuner::after_failed_probe(int tried, const std::string& why) {
  if (!probed_other_side_) {
    probed_other_side_ = true;
    const size_t other = probe_budget(-tried);
    if (other != center_) {
      phase_ = -tried > 0 ? Phase::kProbeUp : Phase::kProbeDown;
      return move_to(other, why + ", probing " + (tried > 0 ? "down" : "up"));
    }
  }
  // Neither side beats the center at this step: look closer, or stop.
  while (true) {
    step_ /= 2;
    probed_other_side_ = false;
    if (step_ < config_.min_step) {
      phase_ = Phase::kHeld;
      drift_windows_ = 0;
      return move_to(center_, why + ", settled at " + rate(center_throughput_) + " tokens/s");
    }
    for (const int direction : {preferred_direction_, -preferred_direction_}) {
      const size_t probe = probe_budget(direction);
      if (probe != center_) {
        phase_ = direction > 0 ? Phase::kProbeUp : Phase::kProbeDown;
        probed_other_side_ = direction != preferred_direction_;
        return move_to(probe, why + ", step " + format_number(1.0 + step_, 2) + "x");
      }
    }
  }
}

std::optional<std::string> AdaptiveTuner::start_search(double throughput,
                                                       const std::string& prefix) {
  center_ = budget_;
  center_throughput_ = throughput;
  step_ = config_.initial_step;
  probed_other_side_ = false;
  const std::string why = prefix + rate(throughput) + " tokens/s at " + std::to_string(center_);
  for (const int direction : {preferred_direction_, -preferred_direction_}) {
    const size_t probe = probe_budget(direction);
    if (probe != center_) {
      phase_ = direction > 0 ? Phase::kProbeUp : Phase::kProbeDown;
      probed_other_side_ = direction != preferred_direction_;
      return move_to(probe, why + ", probing " + (direction > 0 ? "up" : "down"));
    }
  }
  phase_ = Phase::kHeld;  // min_budget == max_budget: nothing to search
  drift_windows_ = 0;
  return std::nullopt;
}

std::optional<std::string> AdaptiveTuner::decide_throughput(const Window& w) {
  const double throughput = static_cast<double>(w.tokens) / w.ms;
  switch (phase_) {
    case Phase::kMeasureCenter:
      return start_search(throughput, "");
    case Phase::kHeld: {
      const double change = throughput / center_throughput_ - 1.0;
      if (std::abs(change) <= config_.change_threshold) {
        drift_windows_ = 0;
        return std::nullopt;
      }
      // One odd window is noise; two in a row mean the cost moved.
      if (++drift_windows_ < 2) return std::nullopt;
      drift_windows_ = 0;
      return start_search(throughput, "throughput " + percent(change) +
                                          " since the budget settled, searching again from ");
    }
    case Phase::kProbeUp:
    case Phase::kProbeDown: {
      const int direction = phase_ == Phase::kProbeUp ? +1 : -1;
      const double gain = throughput / center_throughput_ - 1.0;
      const std::string why = "throughput " + percent(gain) + " over window";
      if (gain <= config_.dead_band) return after_failed_probe(direction, why);
      // The probe wins: it becomes the center, and the search keeps going the same way.
      center_ = budget_;
      center_throughput_ = throughput;
      preferred_direction_ = direction;
      probed_other_side_ = false;
      const size_t next = probe_budget(direction);
      if (next == center_) {
        probed_other_side_ = true;  // the other side is the old center, already beaten
        return after_failed_probe(direction, why + " (at the bound)");
      }
      return move_to(next, why);
    }
  }
  return std::nullopt;
}

std::optional<std::string> AdaptiveTuner::decide_latency(const Window& w) {
  const double target = *config_.target_latency_ms;
  const double p90 = percentile90(w.latencies);
  const double setpoint = target * (1.0 - config_.dead_band / 2);
  const std::string measured = "p90 batch latency " + format_number(p90, 1) + " ms ";
  if (p90 > target) {
    const size_t next = clamp(static_cast<double>(budget_) * std::max(0.5, setpoint / p90));
    if (next == budget_) return std::nullopt;
    return move_to(next, measured + "over target " + format_number(target, 1) + " ms");
  }
  if (p90 < target * (1.0 - config_.dead_band) &&
      static_cast<double>(w.largest) >= config_.fill_fraction * static_cast<double>(budget_)) {
    const size_t next = clamp(static_cast<double>(budget_) * std::min(2.0, setpoint / p90));
    if (next <= budget_) return std::nullopt;
    return move_to(next, measured + "under target " + format_number(target, 1) + " ms");
  }
  return std::nullopt;
}

}  // namespace embedrt::runtime
