#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <cassert>
#include <dnnl.hpp>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "embedrt/error.h"

namespace embedrt::kernels {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
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

// oneDNN's fp32 GEMM gives a row the same bits for every M only inside a range: below 4 rows it
// switches to other kernels, and above a shape-dependent M it blocks K differently (measured with
// oneDNN 2.6 on Zen 3: K = 1536 changes at M = 837). So every call runs fixed-size row tiles, and a
// tail shorter than kMinRows is padded up to kMinRows rows.
constexpr int64_t kMinRows = 4;
constexpr int64_t kTileCandidates[] = {512, 256, 128, 64, 32, 16, 8};

// Scratch for padding short tails, kept per thread so a warm call allocates nothing.
struct TailScratch {
  std::vector<float> x, y, residual;
};
thread_local TailScratch tail_scratch;

}  // namespace

struct Linear::Impl {  // NOLINT: also named by consistent_row_tile()
  LinearSpec spec;
  memory::desc weights_md;
  memory weights;
  memory bias;
  bool has_bias = false;

  // Primitive per row count. oneDNN caches primitives itself, but a primitive descriptor still
  // costs tens of microseconds to create, so keep ours keyed by M.
  mutable std::shared_mutex mutex;
  mutable std::unordered_map<int64_t, std::shared_ptr<const dnnl::matmul>> primitives;
  mutable std::unordered_map<int64_t, std::string> impl_names;
  int64_t row_tile = kMinRows;

  void run(const float* x, int64_t rows, float* y, const float* residual) const;

  dnnl::matmul::primitive_desc make_pd(int64_t rows, const memory::desc& wmd) const {
    const memory::desc src_md({rows, spec.in_features}, dt::f32, tag::ab);
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
    if (has_bias) {
      const memory::desc bias_md({1, spec.out_features}, dt::f32, tag::ab);
      return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wmd, bias_md, dst_md), attr,
                                          cpu_engine());
    }
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wmd, dst_md), attr,
                                        cpu_engine());
  }

  std::shared_ptr<const dnnl::matmul> primitive(int64_t rows) const {
    {
      std::shared_lock lock(mutex);
      if (auto it = primitives.find(rows); it != primitives.end()) return it->second;
    }
    auto pd = make_pd(rows, weights_md);
    auto prim = std::make_shared<const dnnl::matmul>(pd);
    std::unique_lock lock(mutex);
    impl_names.emplace(rows, pd.impl_info_str());
    return primitives.emplace(rows, std::move(prim)).first->second;
  }
};

namespace {

// The largest tile for which a row computed among `tile` rows has the same bits as among
// kMinRows rows. Checked once per (in, out) shape with this layer's packed weights; the
// decision only depends on the shape and oneDNN's dispatch, so it is shared across layers.
int64_t consistent_row_tile(const Linear::Impl& m) {
  static std::mutex mutex;
  static std::map<std::pair<int64_t, int64_t>, int64_t> tiles;
  const auto key = std::make_pair(m.spec.in_features, m.spec.out_features);
  std::lock_guard lock(mutex);
  if (auto it = tiles.find(key); it != tiles.end()) return it->second;
  const int64_t in = m.spec.in_features, out = m.spec.out_features;
  std::vector<float> x(kTileCandidates[0] * in);
  uint32_t state = 12345;
  for (float& v : x) v = float(int32_t(state = state * 1664525u + 1013904223u) >> 8) * 0x1p-23f;
  std::vector<float> residual(kTileCandidates[0] * out, 0.5f);
  std::vector<float> small(kMinRows * out), tiled(kTileCandidates[0] * out);
  int64_t chosen = kMinRows;
  // The first and the last kMinRows rows of a tile, each recomputed on their own.
  const auto same_as_small_call = [&](int64_t first_row) {
    m.run(x.data() + first_row * in, kMinRows, small.data(), residual.data());
    return std::equal(small.begin(), small.end(), tiled.begin() + first_row * out);
  };
  for (int64_t tile : kTileCandidates) {
    m.run(x.data(), tile, tiled.data(), residual.data());
    if (same_as_small_call(0) && same_as_small_call(tile - kMinRows)) {
      chosen = tile;
      break;
    }
  }
  tiles.emplace(key, chosen);
  return chosen;
}

}  // namespace

Linear::Linear(const LinearSpec& spec, const float* weight, const float* bias)
    : impl_(std::make_unique<Impl>()) {
  assert(spec.in_features > 0 && spec.out_features > 0 && weight != nullptr);
  Impl& m = *impl_;
  m.spec = spec;
  m.has_bias = bias != nullptr;
  try {
    const memory::desc any_md({spec.in_features, spec.out_features}, dt::f32, tag::any);
    m.weights_md = m.make_pd(kPackingRows, any_md).weights_desc();
    // PyTorch's [out, in] row-major is the {in, out} matrix in column-major ("ba") order.
    const memory::desc user_md({spec.in_features, spec.out_features}, dt::f32, tag::ba);
    memory user(user_md, cpu_engine(), const_cast<float*>(weight));
    m.weights = memory(m.weights_md, cpu_engine());
    dnnl::stream stream(cpu_engine());
    dnnl::reorder(user, m.weights).execute(stream, user, m.weights);
    if (bias) {
      m.bias = memory({{1, spec.out_features}, dt::f32, tag::ab}, cpu_engine());
      std::copy(bias, bias + spec.out_features, static_cast<float*>(m.bias.get_data_handle()));
    }
    stream.wait();
    m.row_tile = consistent_row_tile(m);
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::kInternal, std::string("oneDNN matmul setup failed: ") + e.what());
  }
}

Linear::~Linear() = default;
Linear::Linear(Linear&&) noexcept = default;
Linear& Linear::operator=(Linear&&) noexcept = default;

const LinearSpec& Linear::spec() const noexcept { return impl_->spec; }

void Linear::Impl::run(const float* x, int64_t rows, float* y, const float* residual) const {
  const auto prim = primitive(rows);
  const dnnl::engine& eng = cpu_engine();
  memory src({{rows, spec.in_features}, dt::f32, tag::ab}, eng, const_cast<float*>(x));
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
  thread_local dnnl::stream stream(eng);
  prim->execute(stream, args);
  stream.wait();
}

void Linear::forward(const float* x, int64_t rows, float* y, const float* residual) const {
  const Impl& m = *impl_;
  assert(!m.spec.add_residual || residual != nullptr);
  const int64_t in = m.spec.in_features, out = m.spec.out_features;
  try {
    for (int64_t r = 0; r < rows; r += m.row_tile) {
      const int64_t n = std::min(m.row_tile, rows - r);
      const float* res = m.spec.add_residual ? residual + r * out : nullptr;
      if (n >= kMinRows) {
        m.run(x + r * in, n, y + r * out, res);
        continue;
      }
      TailScratch& t = tail_scratch;
      t.x.assign(kMinRows * in, 0.0f);
      t.y.resize(kMinRows * out);
      std::copy(x + r * in, x + (r + n) * in, t.x.begin());
      if (res) {
        t.residual.assign(kMinRows * out, 0.0f);
        std::copy(res, res + n * out, t.residual.begin());
      }
      m.run(t.x.data(), kMinRows, t.y.data(), res ? t.residual.data() : nullptr);
      std::copy(t.y.begin(), t.y.begin() + n * out, y + r * out);
    }
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::kInternal, std::string("oneDNN matmul failed: ") + e.what());
  }
}

int64_t Linear::row_tile() const noexcept { return impl_->row_tile; }

const char* Linear::implementation(int64_t rows) const {
  impl_->primitive(rows);
  std::shared_lock lock(impl_->mutex);
  return impl_->impl_names.at(rows).c_str();
}

}  // namespace embedrt::kernels
