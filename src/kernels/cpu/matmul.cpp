#include "kernels/cpu/matmul.h"

#include <omp.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <dnnl.hpp>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "embedrt/error.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/quantize.h"

namespace embedrt::kernels {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// EMBEDRT_ISA below the CPU's level caps oneDNN's JIT as well, so a lowered run takes the paths a
// CPU of that level would: EMBEDRT_ISA=avx2 on an AVX-512 machine runs oneDNN's AVX2 kernels and
// finds no bf16, VNNI or AMX, as on an AMD Zen 3. oneDNN accepts the cap only before its first
// use, so every entry into oneDNN here goes through this.
void cap_onednn_isa() {
  static const bool capped = [] {
    const Isa level = active_isa();
    if (level >= detect_cpu_isa()) return false;
    try {
      dnnl::set_max_cpu_isa(level == Isa::kAvx2 ? dnnl::cpu_isa::avx2 : dnnl::cpu_isa::sse41);
      return true;
    } catch (const dnnl::error&) {
      return false;  // oneDNN was used before (or DNNL_MAX_CPU_ISA already decided)
    }
  }();
  (void)capped;
}

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine = [] {
    cap_onednn_isa();
    return dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return engine;
}

dnnl::algorithm eltwise_algorithm(Activation act) {
  switch (act) {
    case Activation::kGeluErf:
      return dnnl::algorithm::eltwise_gelu_erf;
    case Activation::kGeluTanh:
      return dnnl::algorithm::eltwise_gelu_tanh;
    case Activation::kRelu:
      return dnnl::algorithm::eltwise_relu;
    case Activation::kSilu:
      return dnnl::algorithm::eltwise_swish;
    case Activation::kNone:
      break;
  }
  return dnnl::algorithm::undef;
}

// Row count used to let oneDNN choose the packed weight layout; any M then reuses that layout.
constexpr int64_t kPackingRows = 128;

// oneDNN's fp32 GEMM does not give a row the same bits for every row count M. Measured with
// oneDNN 2.6 on Zen 3 (AVX2): below 4 rows it uses other kernels; rows that fall in a trailing
// block of 1-3 rows of its 6-row micro-kernel take another path, and the driver splits some M
// (78, 90, 126, ...) into such blocks; above a shape-dependent M the K blocking changes (K = 1536:
// M >= 837). So forward() only ever calls oneDNN with row counts from a list checked at load to
// reproduce, row for row, the result of computing `quantum` rows at a time, and zero-pads the tail.
constexpr int64_t kQuantumCandidates[] = {1, 2, 4, 6, 8, 12, 16, 24, 32, 48};
constexpr int64_t kMaxCallRows = 128;
constexpr int64_t kSmallMultiples = 12;
// Rows of the probe input that choose_row_blocking() runs: four quanta of the largest candidate
// (the quantum test), every call size up to kMaxCallRows and LinearSpec::typical_rows.
constexpr int64_t kProbeRows = std::max(
    {kMaxCallRows, kMaxTypicalRows, 4 * kQuantumCandidates[std::size(kQuantumCandidates) - 1]});

// int8 calls: oneDNN 2.6 picks its fast int8 kernels (AMX, VNNI brgemm) only for a fixed row count,
// not for a run-time one, so rows go in calls of kInt8CallRows with the tail padded to a multiple
// of kInt8RowAlign; that bounds the primitives per shape. Exact s32 sums make the split invisible.
constexpr int64_t kInt8CallRows = 256;
constexpr int64_t kInt8RowAlign = 16;  // every quantum multiple up to this many quanta is tried
// A query of a few tokens would spend most of its time on padding rows at the 16-row alignment,
// so row counts up to kInt8RowAlign are padded to a multiple of this instead (three primitives
// more per shape).
constexpr int64_t kInt8SmallRowAlign = 4;

int64_t int8_padded_rows(int64_t rows) {
  const int64_t align = rows <= kInt8RowAlign ? kInt8SmallRowAlign : kInt8RowAlign;
  return (rows + align - 1) / align * align;
}

// Scratch for padding short tails and for the narrow copies of the input that the bf16 and int8
// matmuls read, kept per thread so a warm call allocates nothing.
struct TailScratch {
  std::vector<float> x, y, residual;
  std::vector<uint16_t> bf16;
  std::vector<uint8_t> u8;
  std::vector<float> row_scales;
  std::vector<int32_t> zero_points;
  std::vector<int32_t> acc;
};
thread_local TailScratch tail_scratch;

template <typename T>
T* grown(std::vector<T>& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(n);
  return v.data();
}

// The calling thread's scratchpad for a primitive that wants `desc` (primitives run with
// scratchpad_mode::user, so threads never share one).
memory scratchpad_for(const memory::desc& desc, const dnnl::engine& eng) {
  thread_local std::vector<uint8_t> bytes;
  constexpr size_t kAlign = 64;
  const size_t size = desc.get_size();
  if (bytes.size() < size + kAlign) bytes.resize(size + kAlign);
  auto* base = bytes.data();
  base += (kAlign - reinterpret_cast<uintptr_t>(base) % kAlign) % kAlign;
  return memory(desc, eng, base);
}

bool cpu_has(dnnl::cpu_isa level) {
  cap_onednn_isa();
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  return (isa & static_cast<unsigned>(level)) == static_cast<unsigned>(level);
}

// Without VNNI, oneDNN's u8 x s8 kernels multiply with vpmaddubsw, which adds two u8*s8 products
// into a saturating int16: 255 * 127 * 2 overflows it and silently clips the sum. Keeping
// |activation| * |weight| * 2 <= 32767 makes every product exact. One operand has to give up its
// eighth bit; on all-MiniLM-L6-v2 against fp32 sentence-transformers (1,000 fixture texts, AVX2),
// 7-bit weights gave mean/min cosine 0.9966/0.9890 and 7-bit activations 0.9954/0.9725, so the
// weights lose it.
struct Int8Ranges {
  int32_t activation_max;  // u8 activations lie in [0, activation_max]
  int32_t weight_max;      // s8 weights lie in [-weight_max, weight_max]
};

// Whether oneDNN's u8 x s8 matmul sums 255 * 127 products exactly for `rows` rows. Asked of the
// library itself rather than inferred from CPU flags, because which kernel (VNNI or not) it picks
// depends on its version and on the shape.
bool int8_sums_exactly(int64_t rows) {
  constexpr int64_t kIn = 384, kOut = 64;
  const memory::desc src_md({rows, kIn}, dt::u8, tag::ab);
  const memory::desc user_md({kIn, kOut}, dt::s8, tag::ab);
  const memory::desc dst_md({rows, kOut}, dt::s32, tag::ab);
  const dnnl::matmul::primitive_desc pd(
      dnnl::matmul::desc(src_md, memory::desc({kIn, kOut}, dt::s8, tag::any), dst_md),
      cpu_engine());
  std::vector<uint8_t> x(rows * kIn, 255);
  std::vector<int8_t> w(kIn * kOut, 127);
  std::vector<int32_t> y(rows * kOut, 0);
  dnnl::stream stream(cpu_engine());
  memory user(user_md, cpu_engine(), w.data());
  memory packed(pd.weights_desc(), cpu_engine());
  dnnl::reorder(user, packed).execute(stream, user, packed);
  memory src(src_md, cpu_engine(), x.data());
  memory dst(dst_md, cpu_engine(), y.data());
  dnnl::matmul(pd).execute(stream,
                           {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, packed}, {DNNL_ARG_DST, dst}});
  stream.wait();
  return std::all_of(y.begin(), y.end(), [](int32_t v) { return v == 255 * 127 * kIn; });
}

Int8Ranges int8_ranges() {
  static const Int8Ranges ranges = [] {
    try {
      if (int8_sums_exactly(1) && int8_sums_exactly(4) && int8_sums_exactly(12) &&
          int8_sums_exactly(64) && int8_sums_exactly(1024)) {
        return Int8Ranges{255, 127};
      }
    } catch (const dnnl::error&) {
    }
    return Int8Ranges{255, 63};
  }();
  return ranges;
}

// oneDNN's reference kernels are correct but far slower than the fp32 JIT ones.
bool is_reference_implementation(std::string_view name) { return name.rfind("ref", 0) == 0; }

// The requested precision if this CPU and oneDNN can run it fast, else fp32 and why not.
Precision probe_precision(Precision requested, std::string& why) {
  const auto has = cpu_has;
  switch (requested) {
    case Precision::kF32:
      return Precision::kF32;
    case Precision::kBF16: {
      if (!has(dnnl::cpu_isa::avx512_core_bf16) && !has(dnnl::cpu_isa::avx512_core_amx)) {
        why = "bf16 requested but this CPU has neither AVX512-BF16 nor AMX; computing in fp32";
        return Precision::kF32;
      }
      try {
        const memory::desc src({kPackingRows, 384}, dt::bf16, tag::ab);
        const memory::desc wei({384, 384}, dt::bf16, tag::any);
        const memory::desc dst({kPackingRows, 384}, dt::f32, tag::ab);
        const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), cpu_engine());
        if (is_reference_implementation(pd.impl_info_str())) {
          why = std::string("bf16 requested but oneDNN offers only its reference bf16 matmul (") +
                pd.impl_info_str() + "); computing in fp32";
          return Precision::kF32;
        }
      } catch (const dnnl::error& e) {
        why = std::string("bf16 requested but oneDNN cannot create a bf16 matmul (") + e.what() +
              "); computing in fp32";
        return Precision::kF32;
      }
      return Precision::kBF16;
    }
    case Precision::kInt8:
      try {
        const memory::desc src({kPackingRows, 384}, dt::u8, tag::ab);
        const memory::desc wei({384, 384}, dt::s8, tag::any);
        const memory::desc dst({kPackingRows, 384}, dt::s32, tag::ab);
        const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), cpu_engine());
        if (is_reference_implementation(pd.impl_info_str())) {
          why = std::string("int8 requested but oneDNN offers only its reference int8 matmul (") +
                pd.impl_info_str() + "); computing in fp32";
          return Precision::kF32;
        }
      } catch (const dnnl::error& e) {
        why = std::string("int8 requested but oneDNN cannot create an int8 matmul (") + e.what() +
              "); computing in fp32";
        return Precision::kF32;
      }
      return Precision::kInt8;
  }
  return Precision::kF32;
}

}  // namespace

std::string_view to_string(Precision precision) noexcept {
  switch (precision) {
    case Precision::kF32:
      return "fp32";
    case Precision::kBF16:
      return "bf16";
    case Precision::kInt8:
      return "int8";
  }
  return "unknown";
}

Precision resolve_precision(Precision requested, std::string* warning) {
  struct Outcome {
    Precision precision;
    std::string warning;
  };
  static const auto probe = [](Precision p) {
    Outcome o{};
    o.precision = probe_precision(p, o.warning);
    return o;
  };
  static const Outcome outcomes[] = {probe(Precision::kF32), probe(Precision::kBF16),
                                     probe(Precision::kInt8)};
  const Outcome& o = outcomes[static_cast<int>(requested)];
  if (warning) *warning = o.warning;
  return o.precision;
}

namespace {

// Row o of a weight as fp32: the stored row itself for fp32, else the 16-bit row widened (exact)
// into a buffer that the next call reuses.
class WeightRows {
 public:
  WeightRows(WeightView weight, int64_t in) : weight_(weight), in_(in) {
    if (weight.type != WeightType::kF32) row_.resize(size_t(in));
  }
  const float* operator()(int64_t o) {
    if (weight_.type == WeightType::kF32) return static_cast<const float*>(weight_.data) + o * in_;
    const uint16_t* bits = static_cast<const uint16_t*>(weight_.data) + o * in_;
    (weight_.type == WeightType::kBF16 ? bf16_to_float : half_to_float)(bits, in_, row_.data());
    return row_.data();
  }

 private:
  WeightView weight_;
  int64_t in_;
  std::vector<float> row_;
};

}  // namespace

struct Linear::Impl {  // NOLINT: also named by consistent_row_tile()
  LinearSpec spec;
  memory::desc weights_md;
  memory weights;
  memory bias;
  bool has_bias = false;

  // int8 only: bias, activation and residual are applied after dequantization, not by oneDNN.
  std::vector<float> col_scales, bias_values;
  std::vector<int32_t> col_sums;
  int32_t activation_max = 255;

  Linear::RowBlocking blocking{1, {1}};

  // fp32 on CPUs with AVX2 or AVX-512. On AVX2 oneDNN 2.6 runs its gemm:jit, which packs the
  // weights again on every call (a query of 12 tokens spent most of its 9 ms doing that); on
  // AVX-512 its brgemm is as fast on batches but gives a row bits that depend on the row count, so
  // it had to run in row counts checked at load, which cost a one-sentence query a third of its
  // time. The packed kernel has neither problem, and gives the same bits on both ISAs.
  std::unique_ptr<PackedF32Weights> packed_f32;
  // int8 on the same CPUs, for the same reason (oneDNN's AVX2 int8 GEMM took as long as fp32 for
  // a query once fp32 stopped repacking).
  std::unique_ptr<PackedS8Weights> packed_s8;

  void run(const float* x, int64_t rows, float* y, const float* residual) const;
  void run_int8(const float* x, int64_t rows, float* y, const float* residual) const;
  void run_packed_s8(const float* x, int64_t rows, float* y, const float* residual) const;
  // Columns [c0, c1) of one row: s32 sums (acc points at the row's first column) to fp32 in y,
  // then bias, activation and residual.
  void finish_int8_row(const int32_t* acc, int64_t row, int64_t c0, int64_t c1, float row_scale,
                       int32_t zero_point, float* y, const float* residual) const;
  void pack_int8(WeightView weight, const float* bias);

  dt src_type() const { return spec.precision == Precision::kBF16 ? dt::bf16 : dt::f32; }

  dnnl::matmul::primitive_desc make_pd(int64_t rows, const memory::desc& wmd) const {
    if (spec.precision == Precision::kInt8) {
      // Bias, activation and residual come after dequantization, in run_int8().
      const memory::desc src_md({rows, spec.in_features}, dt::u8, tag::ab);
      const memory::desc dst_md({rows, spec.out_features}, dt::s32, tag::ab);
      return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wmd, dst_md), cpu_engine());
    }
    const memory::desc src_md({rows, spec.in_features}, src_type(), tag::ab);
    const memory::desc dst_md({rows, spec.out_features}, dt::f32, tag::ab);
    dnnl::post_ops ops;
    if (spec.activation != Activation::kNone) {
      // alpha is ReLU's negative slope and swish's sigmoid scale; the GELUs ignore it.
      const float alpha = spec.activation == Activation::kSilu ? 1.0f : 0.0f;
      ops.append_eltwise(1.0f, eltwise_algorithm(spec.activation), alpha, 0.0f);
    }
    if (spec.add_residual) ops.append_binary(dnnl::algorithm::binary_add, dst_md);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    // oneDNN's library-managed scratchpad is one buffer shared by every primitive unless the
    // library was built with DNNL_ENABLE_CONCURRENT_EXEC (distribution builds are not): two
    // matmuls running at once from different threads then overwrite each other's partial sums.
    // Each calling thread passes its own scratchpad instead (see scratchpad_for).
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (has_bias) {
      const memory::desc bias_md({1, spec.out_features}, dt::f32, tag::ab);
      return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wmd, bias_md, dst_md), attr,
                                          cpu_engine());
    }
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wmd, dst_md), attr,
                                        cpu_engine());
  }

  struct CachedPrimitive {
    std::shared_ptr<const dnnl::matmul> primitive;
    std::string implementation;
    memory::desc scratchpad;  // what the primitive needs from the caller's scratchpad
  };

  // Primitives depend on the shape, post-ops and row count but not on the weight values, so one
  // process-wide cache serves every layer of the same shape (and the load-time blocking check).
  // oneDNN fixes a primitive's thread count when it is created, so that is part of the key too:
  // Embedders with different thread counts in one process must not share primitives.
  const CachedPrimitive& primitive(int64_t rows) const {
    using Key = std::tuple<int64_t, int64_t, Activation, bool, bool, Precision, int64_t, int>;
    static std::shared_mutex mutex;
    static std::map<Key, CachedPrimitive> cache;  // never erased, so references stay valid
    const Key key{spec.in_features,
                  spec.out_features,
                  spec.activation,
                  spec.add_residual,
                  has_bias,
                  spec.precision,
                  rows,
                  omp_get_max_threads()};
    {
      std::shared_lock lock(mutex);
      if (auto it = cache.find(key); it != cache.end()) return it->second;
    }
    auto pd = make_pd(rows, weights_md);
    std::string name = pd.impl_info_str();
    if (spec.precision == Precision::kInt8) {
      name.insert(0, int8_ranges().weight_max == 127 ? "int8 u8*s8:" : "int8 u8*s7:");
    }
    CachedPrimitive entry{std::make_shared<const dnnl::matmul>(pd), std::move(name),
                          pd.scratchpad_desc()};
    std::unique_lock lock(mutex);
    return cache.emplace(key, std::move(entry)).first->second;
  }
};

namespace {

// Row counts forward() may pass to oneDNN for this shape; see the comment on kQuantumCandidates.
// Checked once per (in, out) shape with the first layer's packed weights: the outcome depends on
// the shape, the thread count and oneDNN's dispatch, not on the weight values.
Linear::RowBlocking choose_row_blocking(const Linear::Impl& m) {
  static std::mutex mutex;
  static std::map<std::tuple<int64_t, int64_t, Precision, int64_t>, Linear::RowBlocking> cache;
  const auto key = std::make_tuple(m.spec.in_features, m.spec.out_features, m.spec.precision,
                                   m.spec.typical_rows);
  std::lock_guard lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second;

  const int64_t in = m.spec.in_features, out = m.spec.out_features;
  // Every run below stays within kProbeRows rows: the quantum test takes 4 quanta, the call sizes
  // at most max(quantum, kMaxCallRows).
  const int64_t probe_rows = kProbeRows;
  std::vector<float> x(probe_rows * in);
  uint32_t state = 12345;
  for (float& v : x) v = float(int32_t(state = state * 1664525u + 1013904223u) >> 8) * 0x1p-23f;
  const std::vector<float> residual(probe_rows * out, 0.5f);
  std::vector<float> reference(probe_rows * out), trial(probe_rows * out);
  const auto reference_by_quanta = [&](int64_t quantum, int64_t rows) {
    if (rows > probe_rows) throw Error(ErrorCode::kInternal, "row blocking probe out of range");
    for (int64_t r = 0; r + quantum <= rows; r += quantum) {
      m.run(x.data() + r * in, quantum, reference.data() + r * out, residual.data());
    }
  };
  const auto reproduces_reference = [&](int64_t rows) {
    if (rows > probe_rows) throw Error(ErrorCode::kInternal, "row blocking probe out of range");
    m.run(x.data(), rows, trial.data(), residual.data());
    return std::equal(trial.begin(), trial.begin() + rows * out, reference.begin());
  };

  Linear::RowBlocking blocking{0, {}};
  for (int64_t quantum : kQuantumCandidates) {
    reference_by_quanta(quantum, 4 * quantum);
    if (reproduces_reference(2 * quantum) && reproduces_reference(3 * quantum) &&
        reproduces_reference(4 * quantum)) {
      blocking.quantum = quantum;
      break;
    }
  }
  if (blocking.quantum == 0) {
    // Nothing larger is reproducible: run one quantum of the largest candidate at a time.
    blocking.quantum = kQuantumCandidates[std::size(kQuantumCandidates) - 1];
    blocking.call_rows = {blocking.quantum};
  } else {
    const int64_t q = blocking.quantum;
    const int64_t max_rows = std::max(q, kMaxCallRows / q * q);
    reference_by_quanta(q, max_rows);
    for (int64_t rows = q; rows <= max_rows; rows += q) {
      // Past the small sizes, only every fourth quantum multiple: fewer checks at load and
      // larger sizes were the ones oneDNN splits evenly.
      if (rows > kSmallMultiples * q && (rows / q) % 4 != 0) continue;
      if (reproduces_reference(rows)) blocking.call_rows.push_back(rows);
    }
    // The caller's chunk, against a reference computed in calls of the largest size found so far
    // (each of which gives every row the quantum's bits, as just checked) rather than one quantum
    // at a time. bf16 on AMX (all-mpnet-base-v2's 336-row feed-forward chunks, oneDNN 2.6, 2
    // threads): one call reproduces the quantum's bits for both matmuls, where 512 or 384 rows
    // would not for the down projection.
    const int64_t typical = std::min(m.spec.typical_rows, probe_rows) / q * q;
    const int64_t step = blocking.call_rows.back();
    if (typical > step) {
      for (int64_t r = 0; r < typical;) {
        const int64_t n = r + step <= typical ? step : q;
        m.run(x.data() + r * in, n, reference.data() + r * out, residual.data());
        r += n;
      }
      if (reproduces_reference(typical)) blocking.call_rows.push_back(typical);
    }
  }
  cache.emplace(key, blocking);
  return blocking;
}

}  // namespace

Linear::Linear(const LinearSpec& spec, const float* weight, const float* bias)
    : Linear(spec, WeightView{WeightType::kF32, weight}, bias) {}

Linear::Linear(const LinearSpec& spec, WeightView weight, const float* bias)
    : impl_(std::make_unique<Impl>()) {
  assert(spec.in_features > 0 && spec.out_features > 0 && weight.data != nullptr);
  Impl& m = *impl_;
  if (resolve_precision(spec.precision, nullptr) != spec.precision) {
    throw Error(
        ErrorCode::kUnsupported,
        std::string("Linear: ") + std::string(to_string(spec.precision)) +
            " is not available on this CPU; pass the precision resolve_precision() returned");
  }
  m.spec = spec;
  m.has_bias = bias != nullptr;
  try {
    if (spec.precision == Precision::kInt8) {
      m.pack_int8(weight, bias);
      return;
    }
    const int64_t in = spec.in_features, out = spec.out_features;
    if (spec.precision == Precision::kF32 && active_isa() >= Isa::kAvx2) {
      if (weight.type == WeightType::kF32) {
        m.packed_f32 = std::make_unique<PackedF32Weights>(static_cast<const float*>(weight.data),
                                                          bias, out, in);
      } else {
        WeightRows rows(weight, in);
        m.packed_f32 = std::make_unique<PackedF32Weights>(std::ref(rows), bias, out, in);
      }
      m.blocking = {1, {}};
      return;
    }
    const memory::desc any_md({in, out}, m.src_type(), tag::any);
    m.weights_md = m.make_pd(kPackingRows, any_md).weights_desc();
    // oneDNN reorders fp32 and bf16 into the packed layout itself (bf16 widening to fp32 or staying
    // bf16, both exact). Half, which oneDNN 2.6 does not convert on CPUs, is staged in the type
    // computed in, a row at a time through fp32 as the fp32 path rounds it.
    dt user_type = weight.type == WeightType::kBF16 ? dt::bf16 : dt::f32;
    const void* user_data = weight.data;
    std::vector<float> staged_f32;
    std::vector<uint16_t> staged_bf16;
    if (weight.type == WeightType::kF16) {
      WeightRows rows(weight, in);
      if (spec.precision == Precision::kBF16) {
        staged_bf16.resize(size_t(out * in));
        for (int64_t o = 0; o < out; ++o) float_to_bf16(rows(o), in, staged_bf16.data() + o * in);
        user_type = dt::bf16;
        user_data = staged_bf16.data();
      } else {
        staged_f32.resize(size_t(out * in));
        half_to_float(static_cast<const uint16_t*>(weight.data), out * in, staged_f32.data());
        user_data = staged_f32.data();
      }
    }
    // PyTorch's [out, in] row-major is the {in, out} matrix in column-major ("ba") order.
    const memory::desc user_md({in, out}, user_type, tag::ba);
    memory user(user_md, cpu_engine(), const_cast<void*>(user_data));
    m.weights = memory(m.weights_md, cpu_engine());
    dnnl::stream stream(cpu_engine());
    dnnl::reorder(user, m.weights).execute(stream, user, m.weights);
    if (bias) {
      m.bias = memory({{1, spec.out_features}, dt::f32, tag::ab}, cpu_engine());
      std::copy(bias, bias + spec.out_features, static_cast<float*>(m.bias.get_data_handle()));
    }
    stream.wait();
    m.blocking = choose_row_blocking(m);
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::kInternal, std::string("oneDNN matmul setup failed: ") + e.what());
  }
}

Linear::~Linear() = default;
Linear::Linear(Linear&&) noexcept = default;
Linear& Linear::operator=(Linear&&) noexcept = default;

const LinearSpec& Linear::spec() const noexcept { return impl_->spec; }

size_t Linear::weight_bytes() const noexcept {
  const Impl& m = *impl_;
  if (m.packed_f32) return m.packed_f32->bytes();
  if (m.spec.precision == Precision::kInt8) {
    const size_t packed = m.packed_s8 ? m.packed_s8->bytes() : m.weights_md.get_size();
    return packed + m.col_scales.size() * sizeof(float) + m.col_sums.size() * sizeof(int32_t) +
           m.bias_values.size() * sizeof(float);
  }
  return m.weights_md.get_size() + (m.has_bias ? size_t(m.spec.out_features) * sizeof(float) : 0);
}

void Linear::Impl::pack_int8(WeightView weight, const float* bias_in) {
  const int64_t in = spec.in_features, out = spec.out_features;
  const bool own_kernel = active_isa() == Isa::kAvx2;
  const Int8Ranges ranges = own_kernel ? Int8Ranges{255, kGemmS8WeightMax} : int8_ranges();
  activation_max = ranges.activation_max;
  std::vector<int8_t> q(out * in);
  col_scales.resize(out);
  // Per output channel, so one (widened) row at a time gives the same scales and values.
  WeightRows rows(weight, in);
  for (int64_t o = 0; o < out; ++o) {
    quantize_weights_s8(rows(o), 1, in, ranges.weight_max, q.data() + o * in,
                        col_scales.data() + o);
  }
  col_sums.assign(out, 0);
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t i = 0; i < in; ++i) col_sums[o] += q[o * in + i];
  }
  if (bias_in) bias_values.assign(bias_in, bias_in + out);
  blocking = {1, {}};
  if (own_kernel) {
    packed_s8 = std::make_unique<PackedS8Weights>(q.data(), out, in);
    return;
  }

  weights_md = make_pd(kPackingRows, memory::desc({in, out}, dt::s8, tag::any)).weights_desc();
  const memory::desc user_md({in, out}, dt::s8, tag::ba);
  memory user(user_md, cpu_engine(), q.data());
  weights = memory(weights_md, cpu_engine());
  dnnl::stream stream(cpu_engine());
  dnnl::reorder(user, weights).execute(stream, user, weights);
  stream.wait();
}

void Linear::Impl::run_int8(const float* x, int64_t rows, float* y, const float* residual) const {
  const int64_t in = spec.in_features, out = spec.out_features;
  if (packed_s8) {
    run_packed_s8(x, rows, y, residual);
    return;
  }
  const int64_t padded_rows = int8_padded_rows(rows);
  TailScratch& t = tail_scratch;
  uint8_t* q = grown(t.u8, padded_rows * in);
  float* row_scales = grown(t.row_scales, rows);
  int32_t* zero_points = grown(t.zero_points, rows);
  quantize_rows_u8(x, rows, in, activation_max, q, row_scales, zero_points);
  std::fill(q + rows * in, q + padded_rows * in, uint8_t{0});

  const dnnl::engine& eng = cpu_engine();
  thread_local dnnl::stream stream(eng);
  for (int64_t first = 0; first < rows; first += kInt8CallRows) {
    const int64_t n = std::min(kInt8CallRows, rows - first);
    const int64_t call_rows = std::min(kInt8CallRows, padded_rows - first);
    // Full calls write their s32 sums into `y` and turn them into fp32 in place; a padded tail
    // goes through scratch, since `y` has no room for the padding rows.
    int32_t* acc = call_rows == n ? reinterpret_cast<int32_t*>(y + first * out)
                                  : grown(t.acc, call_rows * out);
    memory src({{call_rows, in}, dt::u8, tag::ab}, eng, q + first * in);
    memory dst({{call_rows, out}, dt::s32, tag::ab}, eng, acc);
    const CachedPrimitive& p = primitive(call_rows);
    p.primitive->execute(stream, {{DNNL_ARG_SRC, src},
                                  {DNNL_ARG_WEIGHTS, weights},
                                  {DNNL_ARG_DST, dst},
                                  {DNNL_ARG_SCRATCHPAD, scratchpad_for(p.scratchpad, eng)}});
    stream.wait();
#pragma omp parallel for schedule(static) if (n * out > 32768)
    for (int64_t r = 0; r < n; ++r) {
      finish_int8_row(acc + r * out, first + r, 0, out, row_scales[first + r],
                      zero_points[first + r], y, residual);
    }
  }
}

void Linear::Impl::finish_int8_row(const int32_t* acc, int64_t row, int64_t c0, int64_t c1,
                                   float row_scale, int32_t zero_point, float* y,
                                   const float* residual) const {
  const int64_t out = spec.out_features, n = c1 - c0;
  const auto dequantize =
      active_isa() >= Isa::kAvx2 ? &avx2::dequantize_row : &scalar::dequantize_row;
  float* y_row = y + row * out + c0;
  dequantize(acc + c0, n, row_scale, zero_point, col_scales.data() + c0, col_sums.data() + c0,
             bias_values.empty() ? nullptr : bias_values.data() + c0, y_row);
  if (spec.activation != Activation::kNone) apply_activation(spec.activation, y_row, n);
  if (spec.add_residual) {
    const float* res = residual + row * out + c0;
    for (int64_t c = 0; c < n; ++c) y_row[c] += res[c];
  }
}

void Linear::Impl::run_packed_s8(const float* x, int64_t rows, float* y,
                                 const float* residual) const {
  const int64_t in = spec.in_features;
  const int64_t stride = packed_s8->padded_in();
  TailScratch& t = tail_scratch;
  uint8_t* q = grown(t.u8, rows * stride);
  float* row_scales = grown(t.row_scales, rows);
  int32_t* zero_points = grown(t.zero_points, rows);
  quantize_rows_u8(x, rows, in, activation_max, q, row_scales, zero_points);
  if (stride != in) {  // spread the rows to the kernel's 4-byte-padded stride, last row first
    for (int64_t r = rows - 1; r >= 0; --r) {
      std::memmove(q + r * stride, q + r * in, in);
      std::fill(q + r * stride + in, q + (r + 1) * stride, uint8_t{0});
    }
  }
  // The s32 sums go into `y` (same element size) and become fp32 in place, block by block on the
  // thread that computed them.
  struct Finish {
    const Impl* self;
    float* y;
    const float* row_scales;
    const int32_t* zero_points;
    const float* residual;
  };
  const Finish finish{this, y, row_scales, zero_points, residual};
  GemmU8S8Args args{q, rows, stride, reinterpret_cast<int32_t*>(y)};
  args.context = &finish;
  args.finish = [](const void* context, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    const Finish& f = *static_cast<const Finish*>(context);
    const int64_t out = f.self->spec.out_features;
    const auto* acc = reinterpret_cast<const int32_t*>(f.y);
    for (int64_t r = r0; r < r1; ++r) {
      f.self->finish_int8_row(acc + r * out, r, c0, c1, f.row_scales[r], f.zero_points[r], f.y,
                              f.residual);
    }
  };
  gemm_u8s8_packed(*packed_s8, args);
}

void Linear::Impl::run(const float* x, int64_t rows, float* y, const float* residual) const {
  if (spec.precision == Precision::kInt8) {
    run_int8(x, rows, y, residual);
    return;
  }
  const CachedPrimitive& cached = primitive(rows);
  const auto& prim = cached.primitive;
  const dnnl::engine& eng = cpu_engine();
  void* src_data = const_cast<float*>(x);
  if (spec.precision == Precision::kBF16) {
    uint16_t* narrow = grown(tail_scratch.bf16, rows * spec.in_features);
    float_to_bf16(x, rows * spec.in_features, narrow);
    src_data = narrow;
  }
  memory src({{rows, spec.in_features}, src_type(), tag::ab}, eng, src_data);
  memory dst({{rows, spec.out_features}, dt::f32, tag::ab}, eng, y);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
  if (has_bias) args.emplace(DNNL_ARG_BIAS, bias);
  if (spec.add_residual) {
    const int post_op_index = spec.activation != Activation::kNone ? 1 : 0;
    args.emplace(
        DNNL_ARG_ATTR_MULTIPLE_POST_OP(post_op_index) | DNNL_ARG_SRC_1,
        memory({{rows, spec.out_features}, dt::f32, tag::ab}, eng, const_cast<float*>(residual)));
  }
  args.emplace(DNNL_ARG_SCRATCHPAD, scratchpad_for(cached.scratchpad, eng));
  thread_local dnnl::stream stream(eng);
  prim->execute(stream, args);
  stream.wait();
}

void Linear::forward(const float* x, int64_t rows, float* y, const float* residual,
                     bool batch_invariant, RowsDone rows_done) const {
  const Impl& m = *impl_;
  assert(!m.spec.add_residual || residual != nullptr);
  if (rows == 0) return;
  if (m.packed_f32) {
    gemm_packed(*m.packed_f32, {x, rows, y, m.spec.add_residual ? residual : nullptr,
                                m.spec.activation, rows_done});
    return;
  }
  forward_onednn(x, rows, y, residual, batch_invariant);
  if (rows_done.fn) rows_done.fn(rows_done.context, 0, rows);
}

void Linear::forward_onednn(const float* x, int64_t rows, float* y, const float* residual,
                            bool batch_invariant) const {
  const Impl& m = *impl_;
  const int64_t in = m.spec.in_features, out = m.spec.out_features;
  try {
    const std::vector<int64_t>& sizes = m.blocking.call_rows;
    const auto direct = [&](int64_t first, int64_t n) {
      m.run(x + first * in, n, y + first * out, residual ? residual + first * out : nullptr);
    };
    if (!batch_invariant || m.spec.precision == Precision::kInt8) {
      direct(0, rows);
      return;
    }
    // The largest allowed size that fits, again and again, then the rest (less than a quantum)
    // padded up to the smallest size that covers it.
    int64_t r = 0;
    for (auto fit = std::upper_bound(sizes.begin(), sizes.end(), rows); fit != sizes.begin();
         fit = std::upper_bound(sizes.begin(), sizes.end(), rows - r)) {
      direct(r, *(fit - 1));
      r += *(fit - 1);
    }
    if (r < rows) {
      const int64_t rest = rows - r;
      const int64_t padded = *std::lower_bound(sizes.begin(), sizes.end(), rest);
      TailScratch& t = tail_scratch;
      t.x.assign(padded * in, 0.0f);
      t.y.resize(padded * out);
      std::copy(x + r * in, x + rows * in, t.x.begin());
      if (m.spec.add_residual) {
        t.residual.assign(padded * out, 0.0f);
        std::copy(residual + r * out, residual + rows * out, t.residual.begin());
      }
      m.run(t.x.data(), padded, t.y.data(), m.spec.add_residual ? t.residual.data() : nullptr);
      std::copy(t.y.begin(), t.y.begin() + rest * out, y + r * out);
    }
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::kInternal, std::string("oneDNN matmul failed: ") + e.what());
  }
}

Linear::RowBlocking Linear::row_blocking() const noexcept { return impl_->blocking; }

std::string onednn_isa() {
  cap_onednn_isa();
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "other (" + std::to_string(static_cast<unsigned>(dnnl::get_effective_cpu_isa())) + ")";
  }
}

const char* Linear::implementation(int64_t rows) const {
  if (impl_->packed_f32) {
    return active_isa() >= Isa::kAvx512 ? "embedrt:packed_fp32_avx512_12x32"
                                        : "embedrt:packed_fp32_avx2_6x16";
  }
  if (impl_->packed_s8) return "embedrt:packed_u8s7_avx2_4x16";
  return impl_->primitive(rows).implementation.c_str();
}

}  // namespace embedrt::kernels
