// Encoder throughput and latency through the public API, for bench/bench_encode.py.
//   embedrt_encode_throughput MODEL TEXTS_JSONL THREADS BATCH_SIZE REPEATS [--no-deterministic]
// Loads the model, encodes all texts once to warm up, then `repeats` more times, and prints one
// JSON object: load time, median and per-run texts/s and tokens/s, per-batch latency statistics
// (each batch encoded on its own), and the process's peak resident memory.
#include <sys/resource.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "embedrt/embedder.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  return values[index];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6 && !(argc == 7 && std::string(argv[6]) == "--no-deterministic")) {
    std::fprintf(stderr,
                 "usage: %s MODEL TEXTS_JSONL THREADS BATCH_SIZE REPEATS [--no-deterministic]\n",
                 argv[0]);
    return 2;
  }
  try {
    std::vector<std::string> texts;
    std::ifstream in(argv[2]);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
    }
    embedrt::EmbedderOptions options;
    options.threads = std::stoi(argv[3]);
    options.batch_size = std::stoul(argv[4]);
    const int repeats = std::stoi(argv[5]);
    options.deterministic = argc == 6;

    auto start = std::chrono::steady_clock::now();
    const auto embedder = embedrt::Embedder::load(argv[1], options);
    const double load_seconds = seconds_since(start);

    size_t tokens = embedder.encode(texts).total_tokens;  // warm-up
    std::vector<double> texts_per_second, tokens_per_second;
    for (int r = 0; r < repeats; ++r) {
      start = std::chrono::steady_clock::now();
      tokens = embedder.encode(texts).total_tokens;
      const double seconds = seconds_since(start);
      texts_per_second.push_back(static_cast<double>(texts.size()) / seconds);
      tokens_per_second.push_back(static_cast<double>(tokens) / seconds);
    }
    // Latency of one batch: consecutive slices of batch_size texts, each its own encode() call.
    std::vector<double> batch_ms;
    for (size_t i = 0; i + options.batch_size <= texts.size() && batch_ms.size() < 200;
         i += options.batch_size) {
      const std::span<const std::string> batch(texts.data() + i, options.batch_size);
      start = std::chrono::steady_clock::now();
      embedder.encode(batch);
      batch_ms.push_back(seconds_since(start) * 1e3);
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    nlohmann::json out = {{"texts", texts.size()},
                          {"tokens", tokens},
                          {"threads", options.threads},
                          {"batch_size", options.batch_size},
                          {"deterministic", options.deterministic},
                          {"load_seconds", load_seconds},
                          {"texts_per_second_median", median(texts_per_second)},
                          {"tokens_per_second_median", median(tokens_per_second)},
                          {"texts_per_second_runs", texts_per_second},
                          {"batch_ms_p50", batch_ms.empty() ? 0.0 : percentile(batch_ms, 0.5)},
                          {"batch_ms_p99", batch_ms.empty() ? 0.0 : percentile(batch_ms, 0.99)},
                          {"peak_rss_mb", static_cast<double>(usage.ru_maxrss) / 1024.0}};
    std::cout << out.dump() << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
