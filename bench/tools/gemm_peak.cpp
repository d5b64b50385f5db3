// This machine's GEMM rate through oneDNN matmul, for the peer benchmark's "fraction of GEMM
// peak" figures (bench/bench_peers.py).
//   embedrt_gemm_peak [--threads N] [--quick] [--hidden H --ffn F] [--rows M,M,...]
// Runs fp32 (f32 x f32 -> f32), bf16 (bf16 x bf16 -> f32) and int8 (u8 x s8 -> s32) matmuls on
// the shapes a BERT-style encoder's linear layers have (M token rows x K x N; all-MiniLM-L6-v2's
// 384 / 1536 unless --hidden / --ffn say otherwise), for 128 rows (what one oneDNN call gets in
// deterministic mode) and 4096 rows (a batch of 32 x 128 tokens) or --rows, and on one large
// square problem. The same shapes also run through embedrt's packed fp32 GEMM ("embedrt fp32",
// kernels::gemm_packed at this CPU's ISA), side by side with oneDNN's fp32.
// Weights are laid out the way embedrt does it: format chosen by oneDNN, reordered once. A dtype
// that oneDNN can only run with its reference (non-JIT) kernels on this CPU, or cannot create at
// all, is skipped with a note instead of being timed. Prints one JSON object: per shape and dtype
// the implementation oneDNN picked and the median GFLOP/s (GOP/s for int8; 2*M*K*N per matmul),
// and per dtype the peak (the highest of its shapes).
#include <omp.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <dnnl.hpp>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/matmul.h"

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

struct Shape {
  std::string name;
  int64_t m, k, n;
};

struct Dtype {
  std::string name;
  dt src, wei, dst;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

void fill(const memory& mem, dt type, std::mt19937& rng) {
  const size_t bytes = mem.get_desc().get_size();
  auto* data = static_cast<uint8_t*>(mem.get_data_handle());
  if (type == dt::f32) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    auto* f = reinterpret_cast<float*>(data);
    for (size_t i = 0; i < bytes / sizeof(float); ++i) f[i] = dist(rng);
  } else if (type == dt::bf16) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    auto* h = reinterpret_cast<uint16_t*>(data);
    for (size_t i = 0; i < bytes / 2; ++i) {
      const float v = dist(rng);
      uint32_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      h[i] = static_cast<uint16_t>(bits >> 16);
    }
  } else {
    // u8 activations in [0, 127], s8 weights in [-63, 63]: no saturation in AVX2's
    // 16-bit pairwise products, so the kernels do the work they would on real data.
    std::uniform_int_distribution<int> dist(0, 63);
    for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<uint8_t>(dist(rng));
  }
}

// Runs `matmul` three times to warm up, then `repeats` times as often as fits in
// seconds_per_repeat each, and records the median and per-repeat GFLOP/s (2*M*K*N per call).
template <typename Matmul>
void time_matmul(const Shape& s, double seconds_per_repeat, int repeats, nlohmann::json& row,
                 const Matmul& matmul) {
  for (int i = 0; i < 3; ++i) matmul();
  const double flops =
      2.0 * static_cast<double>(s.m) * static_cast<double>(s.k) * static_cast<double>(s.n);
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    int64_t iterations = 0;
    const auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    do {
      matmul();
      ++iterations;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (elapsed < seconds_per_repeat);
    rates.push_back(flops * static_cast<double>(iterations) / elapsed / 1e9);
  }
  row["gflops_median"] = median(rates);
  row["gflops_runs"] = rates;
}

bool is_reference(const std::string& impl) { return impl.rfind("ref", 0) == 0; }

nlohmann::json measure(const dnnl::engine& engine, dnnl::stream& stream, const Shape& s,
                       const Dtype& d, double seconds_per_repeat, int repeats) {
  nlohmann::json row = {{"shape", s.name}, {"m", s.m}, {"k", s.k}, {"n", s.n}, {"dtype", d.name}};
  const memory::desc src_md({s.m, s.k}, d.src, tag::ab);
  const memory::desc wei_any({s.k, s.n}, d.wei, tag::any);
  const memory::desc dst_md({s.m, s.n}, d.dst, tag::ab);
  dnnl::matmul::primitive_desc pd;
  try {
    pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wei_any, dst_md), engine);
  } catch (const dnnl::error& e) {
    row["skipped"] = "oneDNN offers no " + d.name + " matmul for this CPU (ISA " +
                     embedrt::kernels::onednn_isa() + "): " + e.what();
    return row;
  }
  const std::string impl = pd.impl_info_str();
  row["impl"] = impl;
  if (is_reference(impl)) {
    row["skipped"] = "oneDNN has only its reference (non-JIT) " + d.name +
                     " matmul on this CPU; not a meaningful peak";
    return row;
  }
  std::mt19937 rng(42);
  memory src(src_md, engine), dst(dst_md, engine);
  memory wei_plain(memory::desc({s.k, s.n}, d.wei, tag::ab), engine);
  memory wei(pd.weights_desc(), engine);
  fill(src, d.src, rng);
  fill(wei_plain, d.wei, rng);
  dnnl::reorder(wei_plain, wei).execute(stream, wei_plain, wei);
  stream.wait();
  dnnl::matmul prim(pd);
  const std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
  time_matmul(s, seconds_per_repeat, repeats, row, [&] {
    prim.execute(stream, args);
    stream.wait();
  });
  return row;
}

// embedrt's packed fp32 GEMM on the same shape and the same kind of data.
nlohmann::json measure_packed(const Shape& s, double seconds_per_repeat, int repeats) {
  nlohmann::json row = {
      {"shape", s.name}, {"m", s.m}, {"k", s.k}, {"n", s.n}, {"dtype", "embedrt fp32"}};
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(size_t(s.m * s.k)), w(size_t(s.n * s.k)), y(size_t(s.m * s.n));
  for (float& v : x) v = dist(rng);
  for (float& v : w) v = dist(rng);
  const embedrt::kernels::PackedF32Weights packed(w.data(), nullptr, s.n, s.k);
  const embedrt::kernels::GemmArgs args{
      x.data(), s.m, y.data(), nullptr, embedrt::kernels::Activation::kNone, {}};
  row["impl"] = embedrt::kernels::to_string(embedrt::kernels::active_isa());
  time_matmul(s, seconds_per_repeat, repeats, row,
              [&] { embedrt::kernels::gemm_packed(packed, args); });
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  bool quick = false;
  int64_t h = 384, ffn = 1536;
  std::vector<int64_t> row_counts = {128, 4096};
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--threads" && i + 1 < argc) {
        threads = std::stoi(argv[++i]);
      } else if (arg == "--quick") {
        quick = true;
      } else if (arg == "--hidden" && i + 1 < argc) {
        h = std::stoll(argv[++i]);
      } else if (arg == "--ffn" && i + 1 < argc) {
        ffn = std::stoll(argv[++i]);
      } else if (arg == "--rows" && i + 1 < argc) {
        row_counts.clear();
        std::string list = argv[++i];
        for (size_t at = 0; at <= list.size();) {
          const size_t comma = std::min(list.find(',', at), list.size());
          row_counts.push_back(std::stoll(list.substr(at, comma - at)));
          at = comma + 1;
        }
      } else {
        throw std::invalid_argument(arg);
      }
    }
    if (h <= 0 || ffn <= 0 || row_counts.empty() ||
        *std::min_element(row_counts.begin(), row_counts.end()) <= 0) {
      throw std::invalid_argument("sizes");
    }
  } catch (const std::exception&) {
    std::fprintf(stderr,
                 "usage: %s [--threads N] [--quick] [--hidden H --ffn F] [--rows M,M,...] "
                 "(sizes positive)\n",
                 argv[0]);
    return 2;
  }
  omp_set_num_threads(threads);
  try {
    const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    std::vector<Shape> shapes;
    for (const int64_t m : row_counts) {
      const std::string rows = std::to_string(m) + " rows";
      shapes.push_back({"qkv, " + rows, m, h, 3 * h});
      shapes.push_back({"attention output, " + rows, m, h, h});
      shapes.push_back({"ffn up, " + rows, m, h, ffn});
      shapes.push_back({"ffn down, " + rows, m, ffn, h});
    }
    shapes.push_back({"square 2048", 2048, 2048, 2048});
    const std::vector<Dtype> dtypes = {{"fp32", dt::f32, dt::f32, dt::f32},
                                       {"bf16", dt::bf16, dt::bf16, dt::f32},
                                       {"int8", dt::u8, dt::s8, dt::s32}};
    const double seconds = quick ? 0.1 : 0.4;
    const int repeats = quick ? 3 : 5;

    nlohmann::json results = nlohmann::json::array();
    nlohmann::json peak = nlohmann::json::object(), peak_shape = nlohmann::json::object(),
                   notes = nlohmann::json::object();
    for (const auto& d : dtypes) {
      double best = 0;
      for (const auto& s : shapes) {
        auto row = measure(engine, stream, s, d, seconds, repeats);
        if (row.contains("gflops_median") && row["gflops_median"].get<double>() > best) {
          best = row["gflops_median"].get<double>();
          peak_shape[d.name] = s.name;
        }
        if (row.contains("skipped") && !notes.contains(d.name)) notes[d.name] = row["skipped"];
        results.push_back(row);
        // One skipped shape means the dtype is unavailable: do not repeat the note per shape.
        if (row.contains("skipped")) break;
      }
      peak[d.name] = best > 0 ? nlohmann::json(best) : nlohmann::json(nullptr);
    }
    double best_packed = 0;
    for (const auto& s : shapes) {
      auto row = measure_packed(s, seconds, repeats);
      if (row["gflops_median"].get<double>() > best_packed) {
        best_packed = row["gflops_median"].get<double>();
        peak_shape["embedrt fp32"] = s.name;
      }
      results.push_back(row);
    }
    peak["embedrt fp32"] = best_packed;
    const dnnl_version_t* v = dnnl_version();
    nlohmann::json out = {
        {"threads", threads},
        {"onednn_version", std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                               std::to_string(v->patch)},
        {"onednn_cpu_isa", embedrt::kernels::onednn_isa()},
        {"seconds_per_repeat", seconds},
        {"repeats", repeats},
        {"flops_per_matmul", "2*M*K*N"},
        {"peak_gflops", peak},
        {"peak_shape", peak_shape},
        {"notes", notes},
        {"results", results}};
    std::cout << out.dump(2) << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
