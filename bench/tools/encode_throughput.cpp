// Encoder throughput and latency through the public API, for bench/bench_encode.py and
// bench/bench_peers.py.
//   embedrt_encode_throughput MODEL TEXTS_JSONL THREADS BATCH_SIZE REPEATS [options]
// BATCH_SIZE 0 keeps the optimize mode's texts per batch.
// Options:
//   --no-deterministic        EmbedderOptions::deterministic = false
//   --precision fp32|bf16|int8  requested precision (the effective one is reported, from
//                             Embedder::info(): a CPU that cannot run it falls back to fp32)
//   --max-batch-tokens N      token budget of one model batch (0 = the optimize mode's)
//   --max-length N            tokens per text including special tokens (0 = the model's limit)
//   --no-batch-latency        skip the per-batch latency pass
//   --single-latency N        batch-1 latency: the first N texts encoded one per call (after a
//                             warm-up of min(N, 20) calls); p50/p99 in ms
//   --warmup N                texts encoded once before timing (default: all of them)
//   --embeddings FILE         write the embeddings of the last timed run, float32 row-major
//   --info                    load the model, print its info and exit
// Loads the model (embedding cache off, so repeats compute every text), warms up, encodes all
// texts `repeats` times, and prints one JSON object: load time, model info (effective precision),
// median and per-run texts/s and tokens/s, latency statistics, and the process's peak resident
// memory (VmHWM; ru_maxrss would carry over a large parent's peak across exec) beside the engine's
// own buffer high-water mark.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "embedrt/embedder.h"
#include "embedrt/profile.h"

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

embedrt::Precision precision_from_name(const std::string& name) {
  if (name == "fp32" || name == "f32") return embedrt::Precision::kF32;
  if (name == "bf16") return embedrt::Precision::kBF16;
  if (name == "int8") return embedrt::Precision::kInt8;
  throw std::invalid_argument("unknown precision '" + name + "' (fp32, bf16, int8)");
}

const char* precision_name(embedrt::Precision precision) {
  switch (precision) {
    case embedrt::Precision::kF32:
      return "fp32";
    case embedrt::Precision::kBF16:
      return "bf16";
    case embedrt::Precision::kInt8:
      return "int8";
  }
  return "unknown";
}

void usage(const char* program) {
  std::fprintf(stderr,
               "usage: %s MODEL TEXTS_JSONL THREADS BATCH_SIZE REPEATS [--no-deterministic] "
               "[--precision fp32|bf16|int8] [--max-batch-tokens N] [--max-length N] "
               "[--no-batch-latency] [--single-latency N] [--warmup N] [--embeddings FILE] "
               "[--info]\n",
               program);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    usage(argv[0]);
    return 2;
  }
  try {
    embedrt::EmbedderOptions options;
    options.threads = std::stoi(argv[3]);
    options.batch_size = std::stoul(argv[4]);
    options.cache_bytes = 0;  // every repeat computes every text
    const int repeats = std::stoi(argv[5]);
    bool batch_latency = true, info_only = false;
    size_t single_latency = 0, warmup = SIZE_MAX;
    std::string embeddings_path, requested = "default";
    for (int i = 6; i < argc; ++i) {
      const std::string arg = argv[i];
      const auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
        return argv[++i];
      };
      if (arg == "--no-deterministic") {
        options.deterministic = false;
      } else if (arg == "--precision") {
        requested = value();
        options.precision = precision_from_name(requested);
      } else if (arg == "--max-batch-tokens") {
        options.max_batch_tokens = std::stoul(value());
      } else if (arg == "--max-length") {
        options.max_length = std::stoul(value());
      } else if (arg == "--no-batch-latency") {
        batch_latency = false;
      } else if (arg == "--single-latency") {
        single_latency = std::stoul(value());
      } else if (arg == "--warmup") {
        warmup = std::stoul(value());
      } else if (arg == "--embeddings") {
        embeddings_path = value();
      } else if (arg == "--info") {
        info_only = true;
      } else {
        usage(argv[0]);
        return 2;
      }
    }

    std::vector<std::string> texts;
    std::ifstream in(argv[2]);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
    }

    auto start = std::chrono::steady_clock::now();
    const auto embedder = embedrt::Embedder::load(argv[1], options);
    const double load_seconds = seconds_since(start);
    const embedrt::ModelInfo& info = embedder.info();
    nlohmann::json out = {
        {"texts", texts.size()},
        {"threads", options.threads},
        {"batch_size", options.batch_size},
        {"deterministic", info.deterministic},
        {"load_seconds", load_seconds},
        {"precision_requested", requested},
        {"precision_effective", precision_name(info.precision)},
        {"compute_dtype", info.compute_dtype},
        {"weight_bytes", info.weight_bytes},
        {"weight_dtype", info.weight_dtype},
        // The load's high-water mark and what stays resident after it.
        {"load_peak_rss_mb",
         static_cast<double>(embedrt::process_peak_rss_bytes()) / (1024.0 * 1024.0)},
        {"rss_after_load_mb",
         static_cast<double>(embedrt::process_rss_bytes()) / (1024.0 * 1024.0)},
        {"resolved_batch_size", info.batch_size},
        {"resolved_max_batch_tokens", info.max_batch_tokens},
        {"max_length", info.max_length},
        {"warnings", info.warnings}};
    if (info_only) {
      std::cout << out.dump() << "\n";
      return 0;
    }

    const size_t warm = std::min(warmup, texts.size());
    if (warm > 0) embedder.encode(std::span<const std::string>(texts.data(), warm));
    size_t tokens = 0;
    std::vector<double> texts_per_second, tokens_per_second;
    embedrt::Embeddings last;
    for (int r = 0; r < repeats; ++r) {
      start = std::chrono::steady_clock::now();
      last = embedder.encode(texts);
      const double seconds = seconds_since(start);
      tokens = last.total_tokens;
      texts_per_second.push_back(static_cast<double>(texts.size()) / seconds);
      tokens_per_second.push_back(static_cast<double>(tokens) / seconds);
    }
    if (!embeddings_path.empty()) {
      std::ofstream file(embeddings_path, std::ios::binary);
      file.write(reinterpret_cast<const char*>(last.values.data()),
                 static_cast<std::streamsize>(last.values.size() * sizeof(float)));
      if (!file) throw std::runtime_error("cannot write " + embeddings_path);
      out["dimension"] = last.dimension;
    }
    // Latency of one batch: consecutive slices of batch_size texts (BATCH_SIZE 0: the optimize
    // mode's), each its own encode() call.
    const size_t batch_size = options.batch_size > 0 ? options.batch_size : info.batch_size;
    std::vector<double> batch_ms;
    for (size_t i = 0; batch_latency && i + batch_size <= texts.size() && batch_ms.size() < 200;
         i += batch_size) {
      const std::span<const std::string> batch(texts.data() + i, batch_size);
      start = std::chrono::steady_clock::now();
      embedder.encode(batch);
      batch_ms.push_back(seconds_since(start) * 1e3);
    }
    // Batch-1 latency: one text per call, as a query would come.
    std::vector<double> single_ms;
    const size_t singles = std::min(single_latency, texts.size());
    for (size_t i = 0; i < std::min<size_t>(singles, 20); ++i) {
      embedder.encode(std::span<const std::string>(texts.data() + i, 1));
    }
    for (size_t i = 0; i < singles; ++i) {
      start = std::chrono::steady_clock::now();
      embedder.encode(std::span<const std::string>(texts.data() + i, 1));
      single_ms.push_back(seconds_since(start) * 1e3);
    }
    out["tokens"] = tokens;
    out["texts_per_second_median"] = repeats > 0 ? median(texts_per_second) : 0.0;
    out["tokens_per_second_median"] = repeats > 0 ? median(tokens_per_second) : 0.0;
    out["texts_per_second_runs"] = texts_per_second;
    // Fewer texts than one batch (or --no-batch-latency): null, not a figure.
    out["batch_ms_p50"] =
        batch_ms.empty() ? nlohmann::json(nullptr) : nlohmann::json(percentile(batch_ms, 0.5));
    out["batch_ms_p99"] =
        batch_ms.empty() ? nlohmann::json(nullptr) : nlohmann::json(percentile(batch_ms, 0.99));
    if (!single_ms.empty()) {
      out["single_ms_p50"] = percentile(single_ms, 0.5);
      out["single_ms_p99"] = percentile(single_ms, 0.99);
      out["single_count"] = single_ms.size();
      out["single_ms"] = single_ms;  // in call order, for pooling across runs
    }
    out["peak_rss_mb"] = static_cast<double>(embedrt::process_peak_rss_bytes()) / (1024.0 * 1024.0);
    out["buffer_peak_mb"] = static_cast<double>(embedder.buffer_peak_bytes()) / (1024.0 * 1024.0);
    std::cout << out.dump() << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
