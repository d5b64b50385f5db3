// The encoder's precision options, memory figures and per-op timing hooks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "model/safetensors.h"
#include "model/transformer_encoder.h"
#include "support/test_paths.h"

namespace embedrt::model {
namespace {

namespace fs = std::filesystem;
using kernels::Precision;

fs::path minilm() { return embedrt::testing::test_data_dir() / "models" / "all-MiniLM-L6-v2"; }

struct Batch {
  std::vector<int32_t> ids, types, offsets{0};
  PackedBatch packed() const { return {ids, types, offsets}; }
};

Batch random_batch(const TransformerSpec& config, std::initializer_list<int> lengths) {
  Batch b;
  std::mt19937 gen(5);
  std::uniform_int_distribution<int32_t> id(1000, int32_t(config.vocab_size) - 1);
  for (int len : lengths) {
    for (int t = 0; t < len; ++t) b.ids.push_back(id(gen));
    b.offsets.push_back(int32_t(b.ids.size()));
  }
  b.types.assign(b.ids.size(), 0);
  return b;
}

TEST(EncoderPrecision, ReportsEffectivePrecisionAndFallbackWarnings) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  for (Precision requested : {Precision::kF32, Precision::kBF16, Precision::kInt8}) {
    std::string why;
    const Precision expected = kernels::resolve_precision(requested, &why);
    const TransformerEncoder encoder = TransformerEncoder::load(minilm(), {requested});
    EXPECT_EQ(encoder.precision(), expected);
    if (expected == requested) {
      EXPECT_TRUE(encoder.warnings().empty());
    } else {
      ASSERT_EQ(encoder.warnings().size(), 1u);
      EXPECT_EQ(encoder.warnings()[0], why);
      EXPECT_NE(why.find(kernels::to_string(requested)), std::string::npos) << why;
    }
  }
}

TEST(EncoderPrecision, Int8WeightsAreAboutAQuarterOfFp32) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  if (kernels::resolve_precision(Precision::kInt8, nullptr) != Precision::kInt8) {
    GTEST_SKIP() << "int8 is not available on this CPU";
  }
  const TransformerEncoder f32 = TransformerEncoder::load(minilm());
  const TransformerEncoder int8 = TransformerEncoder::load(minilm(), {Precision::kInt8});
  const TransformerSpec& c = f32.config();
  const size_t layer_params =
      size_t(c.num_hidden_layers) *
      (4 * c.hidden_size * c.hidden_size + 2 * size_t(c.hidden_size) * c.intermediate_size);
  const size_t embedding_bytes =
      size_t(c.vocab_size + c.max_position_embeddings + c.type_vocab_size) * c.hidden_size * 4;
  EXPECT_GE(f32.weight_bytes(), embedding_bytes + 4 * layer_params);
  // Linear layers: one byte per weight; the rest (embeddings, biases, scales, norms) as before.
  EXPECT_LE(int8.weight_bytes(), f32.weight_bytes() - 3 * layer_params + layer_params / 50);
}

TEST(EncoderPrecision, Int8StaysCloseToFp32HiddenStates) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  if (kernels::resolve_precision(Precision::kInt8, nullptr) != Precision::kInt8) {
    GTEST_SKIP() << "int8 is not available on this CPU";
  }
  const TransformerEncoder f32 = TransformerEncoder::load(minilm());
  const TransformerEncoder int8 = TransformerEncoder::load(minilm(), {Precision::kInt8});
  const Batch b = random_batch(f32.config(), {9, 30, 1, 64});
  Workspace w1, w2;
  const auto a = f32.forward(b.packed(), w1);
  const auto q = int8.forward(b.packed(), w2);
  ASSERT_EQ(a.size(), q.size());
  const int64_t h = f32.config().hidden_size;
  for (size_t t = 0; t < b.ids.size(); ++t) {
    double dot = 0, na = 0, nq = 0;
    for (int64_t c = 0; c < h; ++c) {
      dot += double(a[t * h + c]) * q[t * h + c];
      na += double(a[t * h + c]) * a[t * h + c];
      nq += double(q[t * h + c]) * q[t * h + c];
    }
    EXPECT_GE(dot / std::sqrt(na * nq), 0.95) << "token " << t;
  }
}

TEST(EncoderPrecision, OpTimesAreFilledOnlyWhenAsked) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  const TransformerEncoder encoder = TransformerEncoder::load(minilm());
  const Batch b = random_batch(encoder.config(), {40, 17});
  Workspace ws;
  EXPECT_EQ(ws.bytes(), 0u);
  const auto plain = encoder.forward(b.packed(), ws);
  const std::vector<float> first(plain.begin(), plain.end());
  const size_t bytes = ws.bytes();
  EXPECT_GE(bytes, b.ids.size() * size_t(encoder.config().hidden_size) * 4 * 4);

  embedrt::InferenceOpTimes times;
  const auto timed = encoder.forward(b.packed(), ws, true, &times);
  EXPECT_TRUE(std::equal(first.begin(), first.end(), timed.begin())) << "timing changed results";
  EXPECT_EQ(ws.bytes(), bytes) << "a warm pass of the same size must not grow the buffers";
  for (double ms : {times.embeddings_ms, times.qkv_ms, times.attention_ms,
                    times.attention_output_ms, times.ffn_up_ms, times.ffn_down_ms}) {
    EXPECT_GT(ms, 0.0);
    EXPECT_LT(ms, 60000.0);
  }
  // Sums over calls: a second timed pass adds to the same fields.
  const double qkv = times.qkv_ms;
  encoder.forward(b.packed(), ws, true, &times);
  EXPECT_GT(times.qkv_ms, qkv);
}

// Batches above the feed-forward chunk size (512 tokens) must give every sequence the bits it
// gets alone.
TEST(EncoderPrecision, LargeBatchesMatchSequencesAlone) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  for (Precision p : {Precision::kF32, Precision::kInt8}) {
    if (kernels::resolve_precision(p, nullptr) != p) continue;
    const TransformerEncoder encoder = TransformerEncoder::load(minilm(), {p});
    const Batch b = random_batch(encoder.config(), {200, 256, 100, 3, 256, 250});
    Workspace ws;
    const auto all = encoder.forward(b.packed(), ws);
    const std::vector<float> together(all.begin(), all.end());
    const int64_t h = encoder.config().hidden_size;
    for (size_t s = 0; s + 1 < b.offsets.size(); ++s) {
      const int32_t begin = b.offsets[s], end = b.offsets[s + 1];
      const std::vector<int32_t> ids(b.ids.begin() + begin, b.ids.begin() + end);
      const std::vector<int32_t> types(ids.size(), 0), offsets{0, int32_t(ids.size())};
      Workspace alone_ws;
      const auto alone = encoder.forward({ids, types, offsets}, alone_ws);
      EXPECT_TRUE(std::equal(alone.begin(), alone.end(), together.begin() + begin * h))
          << kernels::to_string(p) << " sequence " << s;
    }
  }
}

// The fp32 path's weights: every layer matrix widened to fp32 before packing.
TransformerWeights widened(TransformerWeights w) {
  for (LayerWeights& l : w.layers) {
    for (WeightMatrix* m :
         {&l.qkv_weight, &l.attention_output_weight, &l.intermediate_weight, &l.output_weight}) {
      m->f32 = m->to_float();
      m->bits.clear();
      m->type = kernels::WeightType::kF32;
    }
  }
  return w;
}

// A checkpoint's BF16 / F16 layer matrices reach Linear in their stored type (whole ones read in
// place from the mapping, stacked ones as 16-bit copies) and give the bits that their values
// widened to fp32 give, in every precision.
TEST(EncoderPrecision, SixteenBitCheckpointsGiveTheBitsOfTheirFp32Values) {
  const fs::path data = embedrt::testing::test_data_dir();
  // Qwen3: stacked q/k/v and gate/up; the BERT one: half weights, staged for bf16.
  for (const fs::path& dir : {data / "family-models" / "tiny-qwen3-bf16",
                              data / "tiny-models" / "tiny-weightedmean-fp16"}) {
    EMBEDRT_REQUIRE_FIXTURE(dir / "model.safetensors");
    const TransformerSpec spec = load_transformer_spec(dir / "config.json");
    const SafeTensorsFile file(dir / "model.safetensors");
    {
      TransformerWeights streamed = load_transformer_weights(file, spec, {{}, true});
      const LayerWeights l = streamed.take_layer(0);
      for (const WeightMatrix* m :
           {&l.qkv_weight, &l.attention_output_weight, &l.intermediate_weight, &l.output_weight}) {
        EXPECT_NE(m->type, kernels::WeightType::kF32) << dir;
        EXPECT_TRUE(m->f32.empty()) << dir;
      }
      EXPECT_FALSE(l.attention_output_weight.mapped.empty()) << dir;
      EXPECT_TRUE(l.attention_output_weight.bits.empty()) << dir;
    }
    for (Precision p : {Precision::kF32, Precision::kBF16, Precision::kInt8}) {
      if (kernels::resolve_precision(p, nullptr) != p) continue;
      const TransformerEncoder direct = TransformerEncoder::load(dir, {p});
      WeightLoadOptions whole = weight_load_options(p);
      whole.stream_layers = false;
      const TransformerEncoder fp32_path(spec, widened(load_transformer_weights(file, spec, whole)),
                                         {p});
      EXPECT_EQ(direct.weight_bytes(), fp32_path.weight_bytes());
      const Batch b = random_batch(spec, {9, 30, 1});
      Workspace w1, w2;
      const auto got = direct.forward(b.packed(), w1);
      const auto want = fp32_path.forward(b.packed(), w2);
      ASSERT_EQ(got.size(), want.size());
      EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)))
          << dir.filename() << " " << kernels::to_string(p);
    }
  }
}

}  // namespace
}  // namespace embedrt::model
