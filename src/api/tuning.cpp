#include "embedrt/tuning.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>

#include "api/encoder_runs.h"
#include "embedrt/error.h"
#include "kernels/cpu/threads.h"
#include "model/json_file.h"
#include "runtime/batch_planner.h"
#include "runtime/memory_model.h"
#include "runtime/tuning_file.h"

namespace embedrt {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int threads_of(const ModelInfo& info) {
  return info.threads > 0 ? info.threads : omp_get_num_procs();
}

runtime::BatchShape settings_of(const ModelInfo& info) {
  return {0, 0, threads_of(info), info.precision, info.deterministic};
}

// Sequences per batch beyond which the search need not look: more than any real batch holds.
constexpr size_t kMaxBatchSize = size_t{1} << 20;

std::optional<fs::path> embedrt_home() {
  if (const char* env = std::getenv("EMBEDRT_HOME"); env && *env) return fs::path(env);
  if (const char* home = std::getenv("HOME"); home && *home) {
    return fs::path(home) / ".cache" / "embedrt";
  }
  return std::nullopt;
}

// The model's folder name: "all-MiniLM-L6-v2" for "all-MiniLM-L6-v2", "/m/all-MiniLM-L6-v2/" or
// "sentence-transformers/all-MiniLM-L6-v2".
std::string model_key(std::string_view model) {
  fs::path path(model);
  if (path.filename().empty()) path = path.parent_path();
  std::string name = path.filename().string();
  if (name.empty() || name == "." || name == "..") {
    throw Error(ErrorCode::kInvalidArgument,
                "cannot name a tuning file after model '" + std::string(model) + "'");
  }
  return name;
}

size_t read_number_file(const fs::path& path, bool* unlimited = nullptr) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word)) return 0;
  if (word == "max") {
    if (unlimited) *unlimited = true;
    return 0;
  }
  return static_cast<size_t>(std::strtoull(word.c_str(), nullptr, 10));
}

double percentile(std::vector<double> values, double fraction) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(values.size())));
  return values[std::max<size_t>(rank, 1) - 1];
}

// Visiting order for a plan's batches in which every prefix spreads over the whole length range
// (bit-reversed indices), so a point cut short by its time limit still sees short and long texts
// in their proportions.
std::vector<size_t> stratified_order(size_t count) {
  size_t bits = 0;
  while ((size_t{1} << bits) < count) ++bits;
  std::vector<size_t> order;
  order.reserve(count);
  for (size_t i = 0; i < (size_t{1} << bits); ++i) {
    size_t reversed = 0;
    for (size_t b = 0; b < bits; ++b) reversed |= ((i >> b) & 1) << (bits - 1 - b);
    if (reversed < count) order.push_back(reversed);
  }
  return order;
}

// Milliseconds one pass over all of a plan's batches takes: measured batches at their mean time,
// the others at the per-token cost of the nearest measured batch in length order (neighbours in
// a length-sorted plan hold texts of similar length, so they cost alike per token).
double estimate_pass_ms(const std::vector<runtime::BatchRange>& plan,
                        const std::vector<double>& batch_ms, const std::vector<size_t>& runs) {
  std::vector<size_t> measured;
  for (size_t b = 0; b < plan.size(); ++b) {
    if (runs[b] > 0) measured.push_back(b);
  }
  double total = 0;
  for (size_t b = 0; b < plan.size(); ++b) {
    if (runs[b] > 0) {
      total += batch_ms[b] / static_cast<double>(runs[b]);
      continue;
    }
    const auto after = std::lower_bound(measured.begin(), measured.end(), b);
    size_t nearest;
    if (after == measured.end()) {
      nearest = measured.back();
    } else if (after == measured.begin() || *after - b < b - *(after - 1)) {
      nearest = *after;
    } else {
      nearest = *(after - 1);
    }
    const double per_token = batch_ms[nearest] / static_cast<double>(runs[nearest]) /
                             static_cast<double>(plan[nearest].tokens);
    total += per_token * static_cast<double>(plan[b].tokens);
  }
  return total;
}

std::vector<int32_t> synthetic_ids(std::mt19937_64& rng, size_t length, size_t vocab) {
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab) - 1);
  std::vector<int32_t> ids(length);
  for (int32_t& x : ids) x = id(rng);
  return ids;
}

template <typename T>
void require_positive(const std::vector<T>& values, const char* what) {
  for (const T& v : values) {
    if (v <= 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  std::string(what) + " must be positive, got " + std::to_string(v));
    }
  }
}

}  // namespace

BatchMemoryEstimate estimate_batch_memory(const ModelInfo& model, size_t batch_tokens,
                                          size_t longest_sequence) {
  const runtime::MemoryEstimate e = runtime::estimate_memory(
      model_shape(model),
      {batch_tokens, longest_sequence, threads_of(model), model.precision, model.deterministic});
  return {e.activations, e.attention_scratch, e.quantized_inputs, e.gemm_scratch, e.weights};
}

size_t find_optimal_batch_size(const ModelInfo& model, size_t sequence_length,
                               size_t available_memory_bytes) {
  if (sequence_length == 0) return 0;
  const size_t cap = model.max_batch_tokens > 0
                         ? std::max<size_t>(1, model.max_batch_tokens / sequence_length)
                         : kMaxBatchSize;
  return runtime::largest_batch_size(model_shape(model), sequence_length, available_memory_bytes,
                                     settings_of(model), cap);
}

size_t find_optimal_token_budget(const ModelInfo& model, size_t longest_sequence,
                                 size_t available_memory_bytes) {
  if (longest_sequence == 0) return 0;
  const size_t cap = model.max_batch_tokens > 0 ? std::max(model.max_batch_tokens, longest_sequence)
                                                : kMaxBatchSize * longest_sequence;
  return runtime::largest_token_budget(model_shape(model), longest_sequence, available_memory_bytes,
                                       settings_of(model), cap);
}

int available_cores() { return omp_get_num_procs(); }

size_t available_memory_bytes() {
  size_t available = 0;
  {
    std::ifstream in("/proc/meminfo");
    std::string key;
    size_t value = 0;
    std::string unit;
    while (in >> key >> value >> unit) {
      if (key == "MemAvailable:") {
        available = value * 1024;
        break;
      }
    }
  }
  bool unlimited = false;
  const size_t limit = read_number_file("/sys/fs/cgroup/memory.max", &unlimited);
  if (limit > 0 && !unlimited) {
    const size_t used = read_number_file("/sys/fs/cgroup/memory.current");
    const size_t room = limit > used ? limit - used : 0;
    available = available == 0 ? room : std::min(available, room);
  }
  return available;
}

TuningSettings TuneResult::settings() const {
  TuningSettings s;
  if (best < points.size()) {
    s.threads = points[best].threads;
    s.batch_size = points[best].batch_size;
    s.max_batch_tokens = points[best].max_batch_tokens;
  }
  s.precision = precision;
  return s;
}

fs::path default_tuning_path(std::string_view model) {
  const auto home = embedrt_home();
  if (!home) {
    throw Error(ErrorCode::kIo,
                "cannot place the tuning file: neither EMBEDRT_HOME nor HOME is set");
  }
  return *home / "tuning" / (model_key(model) + ".json");
}

void write_tuning_file(const TuneResult& result, const fs::path& path) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  if (ec) {
    throw Error(ErrorCode::kIo, path.parent_path().string() + ": cannot create: " + ec.message());
  }
  // Written beside and renamed over, so a reader never sees half a file.
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << runtime::tuning_to_json(result);
    if (!out.flush()) throw Error(ErrorCode::kIo, temporary.string() + ": cannot write");
  }
  fs::rename(temporary, path, ec);
  if (ec) {
    fs::remove(temporary, ec);
    throw Error(ErrorCode::kIo, path.string() + ": cannot write: " + ec.message());
  }
}

TuneResult read_tuning_file(const fs::path& path) {
  return runtime::tuning_from_json(model::read_text_file(path), path.string());
}

std::optional<TuningSettings> load_tuning(std::string_view model) {
  const auto home = embedrt_home();
  if (!home) return std::nullopt;
  const fs::path path = *home / "tuning" / (model_key(model) + ".json");
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  const TuneResult result = read_tuning_file(path);
  // Settings measured on other hardware say nothing about this one.
  if (result.cpu != runtime::cpu_model_name() || result.cpu_count != omp_get_num_procs()) {
    return std::nullopt;
  }
  TuningSettings settings = result.settings();
  settings.source = path;
  return settings;
}

TuneResult tune(const std::string& model, std::span<const std::string> texts,
                const TuneOptions& options, const std::function<void(const TunePoint&)>& on_point) {
  const int cores = omp_get_num_procs();
  std::vector<int> thread_grid = options.threads;
  if (thread_grid.empty()) thread_grid = cores > 1 ? std::vector<int>{1, cores} : std::vector{1};
  std::vector<size_t> budgets = options.token_budgets;
  if (budgets.empty()) budgets = {256, 1024, 4096};
  std::vector<size_t> batch_sizes = options.batch_sizes;
  if (batch_sizes.empty()) batch_sizes = {32, 128};
  require_positive(thread_grid, "threads");
  require_positive(budgets, "token budget");
  require_positive(batch_sizes, "batch size");
  if (!(options.seconds_per_point > 0)) {
    throw Error(ErrorCode::kInvalidArgument, "seconds per point must be positive");
  }
  if (options.target_latency_ms && !(*options.target_latency_ms > 0)) {
    throw Error(ErrorCode::kInvalidArgument, "target latency must be positive");
  }

  const auto load = [&](int threads) {
    // oneDNN fixes a primitive's thread count when it is created, at load.
    kernels::use_threads(threads);
    EmbedderOptions o;
    o.threads = threads;
    o.max_length = options.max_length;
    o.precision = options.precision;
    o.deterministic = options.deterministic;
    o.cache_bytes = 0;  // repeated batches must be computed, not looked up
    return Embedder::load(model, o);
  };
  std::optional<Embedder> embedder(load(thread_grid.front()));

  TuneResult result;
  const ModelInfo& first_info = embedder->info();
  result.model = model_key(model);
  result.model_dir = first_info.dir;
  result.cpu = runtime::cpu_model_name();
  result.cpu_count = cores;
  result.date = runtime::utc_timestamp();
  result.precision = std::string(to_string(first_info.precision));
  result.deterministic = options.deterministic;
  result.target_latency_ms = options.target_latency_ms;
  result.seconds_per_point = options.seconds_per_point;

  // The workload, prepared once; the same items go through every grid point.
  std::vector<PreparedText> items;
  if (!texts.empty()) {
    items = embedder->prepare(texts);
    result.workload = std::to_string(texts.size()) + " input texts";
  } else {
    std::mt19937_64 rng(options.seed);
    std::lognormal_distribution<double> length(std::log(32.0), 0.7);
    const double longest = static_cast<double>(std::max<size_t>(first_info.max_length, 4));
    std::vector<std::vector<int32_t>> ids(std::max<size_t>(options.synthetic_texts, 1));
    for (auto& sequence : ids) {
      const double n = std::clamp(std::round(length(rng)), 4.0, longest);
      sequence = synthetic_ids(rng, static_cast<size_t>(n), first_info.vocab_size);
    }
    items = embedder->prepare_token_ids(ids);
    result.workload = "synthetic: " + std::to_string(ids.size()) +
                      " texts, log-normal token lengths (median 32, sigma 0.7), seed " +
                      std::to_string(options.seed);
  }
  std::vector<size_t> lengths(items.size());
  for (size_t i = 0; i < items.size(); ++i) lengths[i] = items[i].encoding.ids.size();
  const std::vector<size_t> order = runtime::order_by_length(lengths);
  std::vector<size_t> sorted_lengths(order.size());
  for (size_t i = 0; i < order.size(); ++i) sorted_lengths[i] = lengths[order[i]];
  result.texts = items.size();
  for (const size_t n : lengths) result.tokens += n;
  if (!sorted_lengths.empty()) {
    result.median_tokens = sorted_lengths[(sorted_lengths.size() - 1) / 2];
    result.max_tokens = sorted_lengths.back();
  }

  for (size_t t = 0; t < thread_grid.size(); ++t) {
    if (t > 0) {
      embedder.reset();  // one model resident at a time
      embedder.emplace(load(thread_grid[t]));
    }
    const ModelInfo& info = embedder->info();
    size_t warmed_tokens = 0, warmed_longest = 0;
    // Plans already measured at this thread count, keyed by their batch boundaries.
    std::map<std::vector<size_t>, size_t> measured;
    for (const size_t budget : budgets) {
      for (const size_t batch_size : batch_sizes) {
        const std::vector<runtime::BatchRange> plan =
            runtime::plan_batches(sorted_lengths, {batch_size, budget});
        TunePoint point;
        point.threads = thread_grid[t];
        point.batch_size = batch_size;
        point.max_batch_tokens = budget;
        std::vector<size_t> key;
        size_t largest = 0, largest_tokens = 0, longest = 0;
        for (size_t b = 0; b < plan.size(); ++b) {
          key.push_back(plan[b].end);
          if (plan[b].tokens > largest_tokens) {
            largest_tokens = plan[b].tokens;
            largest = b;
          }
          longest = std::max(longest, sorted_lengths[plan[b].end - 1]);
        }
        point.estimated_bytes = estimate_batch_memory(info, largest_tokens, longest).batch();

        if (const auto seen = measured.find(key); seen != measured.end()) {
          const TunePoint& same = result.points[seen->second];
          point.batches_run = same.batches_run;
          point.texts_per_second = same.texts_per_second;
          point.tokens_per_second = same.tokens_per_second;
          point.p50_batch_ms = same.p50_batch_ms;
          point.p90_batch_ms = same.p90_batch_ms;
          point.same_batches_as = seen->second;
        } else if (!plan.empty()) {
          std::vector<std::vector<PreparedText*>> batches(plan.size());
          for (size_t b = 0; b < plan.size(); ++b) {
            for (size_t k = plan[b].begin; k < plan[b].end; ++k) {
              batches[b].push_back(&items[order[k]]);
            }
          }
          // Grow the buffers first, so no timed batch pays for allocation.
          if (largest_tokens > warmed_tokens || longest > warmed_longest) {
            embedder->embed_batch(batches[largest]);
            warmed_tokens = std::max(warmed_tokens, largest_tokens);
            warmed_longest = std::max(warmed_longest, longest);
          }
          const std::vector<size_t> visit = stratified_order(plan.size());
          const size_t min_batches = std::min<size_t>(plan.size(), 2);
          std::vector<double> latencies;
          std::vector<double> batch_ms(plan.size(), 0);
          std::vector<size_t> batch_runs(plan.size(), 0);
          const auto start = Clock::now();
          for (size_t k = 0;; ++k) {
            const size_t b = visit[k % visit.size()];
            const auto t0 = Clock::now();
            embedder->embed_batch(batches[b]);
            const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
            latencies.push_back(ms);
            batch_ms[b] += ms;
            ++batch_runs[b];
            const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
            if (k + 1 >= min_batches && elapsed >= options.seconds_per_point) break;
          }
          const double pass_ms = estimate_pass_ms(plan, batch_ms, batch_runs);
          point.batches_run = latencies.size();
          point.texts_per_second = static_cast<double>(result.texts) * 1000.0 / pass_ms;
          point.tokens_per_second = static_cast<double>(result.tokens) * 1000.0 / pass_ms;
          point.p50_batch_ms = percentile(latencies, 0.5);
          point.p90_batch_ms = percentile(latencies, 0.9);
          measured.emplace(std::move(key), result.points.size());
        }
        result.points.push_back(point);
        if (on_point) on_point(result.points.back());
      }
    }
  }

  result.best = best_tune_point(result.points, options.target_latency_ms);
  return result;
}

size_t best_tune_point(std::span<const TunePoint> points, std::optional<double> target_latency_ms) {
  if (points.empty()) return 0;
  std::vector<size_t> eligible;
  for (size_t i = 0; i < points.size(); ++i) {
    if (!target_latency_ms || points[i].p90_batch_ms <= *target_latency_ms) eligible.push_back(i);
  }
  if (eligible.empty()) {
    size_t lowest = 0;
    for (size_t i = 1; i < points.size(); ++i) {
      if (points[i].p90_batch_ms < points[lowest].p90_batch_ms) lowest = i;
    }
    return lowest;
  }
  double fastest = 0;
  for (const size_t i : eligible) fastest = std::max(fastest, points[i].texts_per_second);
  size_t best = eligible.front();
  double best_latency = INFINITY;
  for (const size_t i : eligible) {
    if (points[i].texts_per_second >= 0.98 * fastest && points[i].p50_batch_ms < best_latency) {
      best_latency = points[i].p50_batch_ms;
      best = i;
    }
  }
  return best;
}

}  // namespace embedrt
