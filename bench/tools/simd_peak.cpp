// The CPU's own multiply-add ceiling, which bounds every GEMM on it, embedrt's and its peers':
//   embedrt_simd_peak [--threads N] [--seconds S] [--read-mb M]
// Times two AVX2 instruction streams with independent accumulators and operands in L1, first on
// one thread, then on N threads at once (default: all cores):
// - fp32: vfmadd231ps on 8 lanes, twelve accumulators (2 FLOPs per lane);
// - int8: what a u8 x s8 -> s32 GEMM issues without VNNI: a broadcast of four u8 activations,
//   vpmaddubsw against two weight registers, vpmaddwd by ones, vpaddd (2 OPs per u8 x s8 product).
// Then the memory read rate on N threads: each thread sums its share of a --read-mb buffer
// (default 256 MiB, far past any cache) with 32-byte loads, as a GEMM of a few rows streams its
// weights. Prints one JSON object with GFLOP/s, GOP/s and GB/s, the median of repeated timings.
// On a CPU without AVX2 and FMA it prints {"skipped": reason}.
#include <immintrin.h>
#include <omp.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_features.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Returns FLOPs done; the result goes to `sink` so that nothing is optimized away.
__attribute__((target("avx2,fma"), noinline)) double fp32_stream(int64_t iterations, float* sink) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(float(i));
  const __m256 mul = _mm256_set1_ps(0.999f), add = _mm256_set1_ps(0.001f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], mul, add);
  }
  __m256 total = acc[0];
  for (int i = 1; i < 12; ++i) total = _mm256_add_ps(total, acc[i]);
  _mm256_storeu_ps(sink, total);
  return double(iterations) * 12 * 8 * 2;
}

// Returns OPs done (2 per u8 x s8 product).
__attribute__((target("avx2,fma"), noinline)) double int8_stream(int64_t iterations,
                                                                 const uint8_t* activations,
                                                                 int32_t* sink) {
  __m256i acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = _mm256_set1_epi32(i);
  const __m256i w0 = _mm256_set1_epi8(5), w1 = _mm256_set1_epi8(-7);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t it = 0; it < iterations; ++it) {
    const uint8_t* a = activations + (it & 63) * 16;
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      int32_t four;
      std::memcpy(&four, a + 4 * j, 4);
      const __m256i x = _mm256_set1_epi32(four);
      acc[2 * j] =
          _mm256_add_epi32(acc[2 * j], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w0), ones));
      acc[2 * j + 1] =
          _mm256_add_epi32(acc[2 * j + 1], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w1), ones));
    }
  }
  __m256i total = acc[0];
  for (int i = 1; i < 8; ++i) total = _mm256_add_epi32(total, acc[i]);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(sink), total);
  return double(iterations) * 8 * 32 * 2;
}

// Returns bytes read: [begin, end) summed 32 bytes at a time into four independent sums.
__attribute__((target("avx2,fma"), noinline)) double read_stream(const float* begin,
                                                                 const float* end, float* sink) {
  __m256 sum[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  for (const float* p = begin; p + 32 <= end; p += 32) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) sum[j] = _mm256_add_ps(sum[j], _mm256_load_ps(p + 8 * j));
  }
  _mm256_storeu_ps(sink,
                   _mm256_add_ps(_mm256_add_ps(sum[0], sum[1]), _mm256_add_ps(sum[2], sum[3])));
  return double(end - begin) * sizeof(float);
}

// Median rate (operations per second, summed over the threads) of `repeats` timings of about
// `seconds` each, all threads starting together.
template <typename Stream>
double median_rate(int threads, double seconds, int repeats, const Stream& stream) {
  // Calibrate the iteration count on one thread.
  int64_t iterations = 1 << 16;
  for (;;) {
    const auto start = std::chrono::steady_clock::now();
    stream(iterations);
    if (seconds_since(start) > seconds / 4) break;
    iterations *= 2;
  }
  const auto start = std::chrono::steady_clock::now();
  stream(iterations);
  iterations = std::max<int64_t>(1, int64_t(iterations * seconds / seconds_since(start)));

  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    double ops = 0;
    const auto begin = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : ops)
    ops += stream(iterations);
    rates.push_back(ops / seconds_since(begin));
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = omp_get_num_procs();
  double seconds = 0.2;
  int read_mb = 256;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) {
      threads = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::max(0.01, std::atof(argv[++i]));
    } else if (arg == "--read-mb" && i + 1 < argc) {
      read_mb = std::clamp(std::atoi(argv[++i]), 1, 16384);
    } else {
      std::fprintf(stderr, "usage: %s [--threads N] [--seconds S] [--read-mb M]\n", argv[0]);
      return 2;
    }
  }
  nlohmann::json out;
  // The kernels' own detection: AVX2, FMA and F16C in cpuid, and the OS saving AVX state.
  if (embedrt::kernels::detect_cpu_isa() < embedrt::kernels::Isa::kAvx2) {
    out["skipped"] = "this CPU (or OS) lacks AVX2 and FMA";
    std::cout << out.dump() << "\n";
    return 0;
  }
  std::vector<uint8_t> activations(64 * 16 + 16);
  for (size_t i = 0; i < activations.size(); ++i) activations[i] = uint8_t(i * 37 + 11);
  const auto fp32 = [&](int64_t n) {
    alignas(32) float sink[8];
    const double flops = fp32_stream(n, sink);
    volatile float keep = sink[0];
    (void)keep;
    return flops;
  };
  const auto int8 = [&](int64_t n) {
    alignas(32) int32_t sink[8];
    const double ops = int8_stream(n, activations.data(), sink);
    volatile int32_t keep = sink[0];
    (void)keep;
    return ops;
  };
  const int repeats = 7;
  out["threads"] = threads;
  out["isa"] = "avx2";
  out["fp32_gflops_one_thread"] = median_rate(1, seconds, repeats, fp32) / 1e9;
  out["fp32_gflops"] = median_rate(threads, seconds, repeats, fp32) / 1e9;
  out["int8_gops_one_thread"] = median_rate(1, seconds, repeats, int8) / 1e9;
  out["int8_gops"] = median_rate(threads, seconds, repeats, int8) / 1e9;

  // Every thread reads its own contiguous share. The buffer is filled before the timing, so page
  // faults stay out of it.
  const size_t floats = (size_t(read_mb) << 20) / sizeof(float) / (32 * threads) * (32 * threads);
  void* storage = nullptr;  // 64-byte aligned: every load is an aligned 32-byte one
  if (posix_memalign(&storage, 64, floats * sizeof(float)) != 0) throw std::bad_alloc();
  const std::unique_ptr<float, decltype(&std::free)> buffer(static_cast<float*>(storage),
                                                            &std::free);
  std::fill(buffer.get(), buffer.get() + floats, 1.0f);
  const auto read = [&](int thread) {
    alignas(32) float sink[8];
    const size_t share = floats / threads;
    const double bytes =
        read_stream(buffer.get() + thread * share, buffer.get() + (thread + 1) * share, sink);
    volatile float keep = sink[0];
    (void)keep;
    return bytes;
  };
  std::vector<double> read_rates;
  for (int r = 0; r < 2 * repeats; ++r) {
    double bytes = 0;
    const auto begin = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : bytes)
    bytes += read(omp_get_thread_num());
    if (r > 0) read_rates.push_back(bytes / seconds_since(begin));  // the first pass warms up
  }
  std::sort(read_rates.begin(), read_rates.end());
  out["read_mb"] = read_mb;
  out["read_gbps"] = read_rates[read_rates.size() / 2] / 1e9;
  std::cout << out.dump() << "\n";
  return 0;
}
