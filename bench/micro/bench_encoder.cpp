// The BERT encoder and its GEMMs on MiniLM-L6 shapes, per matmul precision (0 fp32, 1 bf16,
// 2 int8; a precision the CPU cannot run is skipped with the reason). The encoder benchmarks need
// a model folder in EMBEDRT_BENCH_MODEL (config.json + model.safetensors); threads follow
// OMP_NUM_THREADS.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/layer_norm.h"
#include "kernels/cpu/matmul.h"
#include "model/transformer_encoder.h"

namespace {

using embedrt::kernels::Activation;
using embedrt::kernels::Linear;
using embedrt::kernels::Precision;
using embedrt::model::TransformerEncoder;
using embedrt::model::Workspace;

// The precision in argument `index`, or false (and the benchmark skipped) when the CPU lacks it.
bool bench_precision(benchmark::State& state, int index, Precision& precision) {
  precision = static_cast<Precision>(state.range(index));
  std::string why;
  if (embedrt::kernels::resolve_precision(precision, &why) != precision) {
    state.SkipWithError(why.c_str());
    return false;
  }
  state.SetLabel(std::string(embedrt::kernels::to_string(precision)));
  return true;
}

const TransformerEncoder* bench_encoder(Precision precision) {
  static std::map<Precision, std::unique_ptr<TransformerEncoder>> encoders;
  auto& encoder = encoders[precision];
  if (!encoder) {
    const char* dir = std::getenv("EMBEDRT_BENCH_MODEL");
    if (dir == nullptr) return nullptr;
    encoder = std::make_unique<TransformerEncoder>(TransformerEncoder::load(dir, {precision}));
  }
  return encoder.get();
}

// Args: batch size, tokens per sequence, precision.
void BM_EncoderForward(benchmark::State& state) {
  Precision precision;
  if (!bench_precision(state, 2, precision)) return;
  const TransformerEncoder* encoder = bench_encoder(precision);
  if (encoder == nullptr) {
    state.SkipWithError("set EMBEDRT_BENCH_MODEL to a BERT model folder");
    return;
  }
  const int64_t batch = state.range(0), length = state.range(1);
  std::mt19937 gen(1);
  std::uniform_int_distribution<int32_t> id(1000, int32_t(encoder->config().vocab_size) - 1);
  std::vector<int32_t> ids(batch * length), types(batch * length, 0), offsets{0};
  for (int32_t& v : ids) v = id(gen);
  for (int64_t s = 0; s < batch; ++s) offsets.push_back(int32_t((s + 1) * length));
  Workspace ws;
  encoder->forward({ids, types, offsets}, ws);  // warm: buffers and primitives
  for (auto _ : state) {
    benchmark::DoNotOptimize(encoder->forward({ids, types, offsets}, ws).data());
  }
  state.counters["threads"] = omp_get_max_threads();
  state.counters["tokens/s"] =
      benchmark::Counter(double(batch * length), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_EncoderForward)
    ->ArgsProduct({{8}, {128}, {0, 1, 2}})
    ->ArgsProduct({{1}, {16}, {0, 1, 2}})
    ->ArgsProduct({{32}, {16}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Args: rows, in_features, out_features, activation (0 none, 1 gelu_erf), precision.
void BM_LinearGemm(benchmark::State& state) {
  Precision precision;
  if (!bench_precision(state, 4, precision)) return;
  const int64_t rows = state.range(0), in = state.range(1), out = state.range(2);
  const Activation act = state.range(3) ? Activation::kGeluErf : Activation::kNone;
  std::mt19937 gen(2);
  std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
  std::vector<float> w(in * out), b(out), x(rows * in), y(rows * out);
  for (float& v : w) v = dist(gen);
  for (float& v : b) v = dist(gen);
  for (float& v : x) v = dist(gen);
  const Linear linear({in, out, act, false, precision}, w.data(), b.data());
  linear.forward(x.data(), rows, y.data());
  for (auto _ : state) {
    linear.forward(x.data(), rows, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * rows * in * out * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_LinearGemm)
    ->ArgsProduct({{10}, {384}, {1152, 384, 1536}, {0}, {0, 2}})  // a query's rows
    ->ArgsProduct({{10}, {1536}, {384}, {0}, {0, 2}})
    ->ArgsProduct({{32, 128, 1024, 4096}, {384}, {1152, 384}, {0}, {0, 1, 2}})
    ->ArgsProduct({{32, 128, 1024, 4096}, {384}, {1536}, {1}, {0, 1, 2}})
    ->ArgsProduct({{32, 128, 1024, 4096}, {1536}, {384}, {0}, {0, 1, 2}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// Args: sequences, tokens per sequence; MiniLM's 12 heads of 32.
void BM_Attention(benchmark::State& state) {
  const int64_t seqs = state.range(0), length = state.range(1), heads = 12, dim = 32;
  const int64_t tokens = seqs * length, hidden = heads * dim;
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> qkv(tokens * 3 * hidden), out(tokens * hidden);
  for (float& v : qkv) v = dist(gen);
  std::vector<int32_t> offsets{0};
  for (int64_t s = 0; s < seqs; ++s) offsets.push_back(int32_t((s + 1) * length));
  std::vector<float> scratch(embedrt::kernels::attention_scratch_per_thread(length, dim) *
                             omp_get_max_threads());
  const embedrt::kernels::AttentionArgs args{qkv.data(), offsets.data(), seqs, heads,
                                             dim,        out.data()};
  for (auto _ : state) {
    embedrt::kernels::attention(args, scratch.data(), scratch.size());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * seqs * heads * length * length * dim * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Attention)
    ->Args({8, 128})
    ->Args({1, 16})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// Args: tokens, head_dim, causal (0/1); one sequence of 2 heads, as a decoder embedder's layer
// (Qwen3-Embedding: head_dim 128, causal). Run with OMP_NUM_THREADS=1 for one thread's speed.
void BM_AttentionLong(benchmark::State& state) {
  const int64_t length = state.range(0), dim = state.range(1), heads = 2;
  const int64_t hidden = heads * dim;
  std::mt19937 gen(4);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> qkv(length * 3 * hidden), out(length * hidden);
  for (float& v : qkv) v = dist(gen);
  const std::vector<int32_t> offsets{0, int32_t(length)};
  std::vector<float> scratch(embedrt::kernels::attention_scratch_per_thread(length, dim) *
                             omp_get_max_threads());
  embedrt::kernels::AttentionArgs args{qkv.data(), offsets.data(), 1, heads, dim, out.data()};
  args.causal = state.range(2) != 0;
  for (auto _ : state) {
    embedrt::kernels::attention(args, scratch.data(), scratch.size());
    benchmark::DoNotOptimize(out.data());
  }
  const double pairs = args.causal ? 0.5 * length * (length + 1) : double(length) * length;
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * heads * pairs * dim * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_AttentionLong)
    ->ArgsProduct({{128, 2048}, {64, 128, 256}, {0}})
    ->ArgsProduct({{4096, 8192}, {128}, {1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// Args: tokens, hidden; RMSNorm over [tokens, hidden] (Qwen3-0.6B: 1024), then the per-head
// q/k norms of head_dim 128 (hidden / 128 heads per token). One thread: OMP_NUM_THREADS=1.
void BM_RmsNorm(benchmark::State& state) {
  const int64_t tokens = state.range(0), hidden = state.range(1), head_dim = 128;
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> x(tokens * hidden), gamma(hidden), out(tokens * hidden);
  for (float& v : x) v = dist(gen);
  for (float& v : gamma) v = dist(gen);
  for (auto _ : state) {
    embedrt::kernels::rms_norm(x.data(), gamma.data(), 1e-6f, tokens, hidden, hidden, out.data());
    embedrt::kernels::rms_norm_heads(out.data(), tokens, hidden, hidden / head_dim, head_dim,
                                     gamma.data(), 1e-6f);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * tokens);
}
BENCHMARK(BM_RmsNorm)->Args({1, 1024})->Args({512, 1024})->Args({512, 2560})->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
