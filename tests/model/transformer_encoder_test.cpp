#include "model/transformer_encoder.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <numeric>
#include <sstream>

#include "embedrt/error.h"
#include "npy.h"
#include "support/test_paths.h"

namespace embedrt::model {
namespace {

namespace fs = std::filesystem;
using embedrt::testing::read_npy;

struct Fixture {
  std::vector<int32_t> ids, type_ids, offsets;
  std::vector<float> expected;  // [tokens, hidden]
};

Fixture read_fixture(const fs::path& dir) {
  return {read_npy<int32_t>(dir / "ids.npy").data, read_npy<int32_t>(dir / "type_ids.npy").data,
          read_npy<int32_t>(dir / "offsets.npy").data,
          read_npy<float>(dir / "last_hidden_state.npy").data};
}

fs::path variant_dir(const std::string& name) {
  return embedrt::testing::test_data_dir() / "encoder" / name;
}

class EncoderParity : public ::testing::TestWithParam<std::string> {};

// The encoder's hidden states on the fixture's packed batch, within 1e-4 of transformers'.
void expect_matches_fixture(const TransformerEncoder& encoder, const fs::path& dir) {
  const Fixture f = read_fixture(dir);
  Workspace ws;
  const auto hidden = encoder.forward({f.ids, f.type_ids, f.offsets}, ws);
  ASSERT_EQ(hidden.size(), f.expected.size());
  float worst = 0;
  for (size_t i = 0; i < hidden.size(); ++i) {
    worst = std::max(worst, std::fabs(hidden[i] - f.expected[i]));
  }
  EXPECT_LE(worst, 1e-4f);
  std::ostringstream worst_text;
  worst_text << std::scientific << worst;
  ::testing::Test::RecordProperty("max_abs_diff", worst_text.str());
}

// transformers' BertModel, one sequence at a time, against one packed batch here.
TEST_P(EncoderParity, MatchesTransformersBertModel) {
  const fs::path dir = variant_dir(GetParam());
  EMBEDRT_REQUIRE_FIXTURE(dir / "last_hidden_state.npy");
  expect_matches_fixture(TransformerEncoder::load(dir), dir);
}

// The real all-MiniLM-L6-v2 weights (linked into the test data by make_test_data.sh).
TEST(EncoderParityRealModel, MatchesTransformersOnMiniLM) {
  const fs::path model = embedrt::testing::test_data_dir() / "models" / "all-MiniLM-L6-v2";
  const fs::path dir = variant_dir("minilm");
  EMBEDRT_REQUIRE_FIXTURE(model / "model.safetensors");
  EMBEDRT_REQUIRE_FIXTURE(dir / "last_hidden_state.npy");
  expect_matches_fixture(TransformerEncoder::load(model), dir);
}

INSTANTIATE_TEST_SUITE_P(Variants, EncoderParity,
                         ::testing::Values("gelu_plain", "gelu_new_masked_lm", "relu_st_f16",
                                           "silu_bf16"));

std::vector<float> sequence_rows(std::span<const float> hidden, const std::vector<int32_t>& offsets,
                                 size_t s, int64_t h) {
  return {hidden.begin() + offsets[s] * h, hidden.begin() + offsets[s + 1] * h};
}

// A sequence's bits must not depend on its neighbours, its place in the batch or the thread count.
TEST(TransformerEncoder, OutputIsBatchAndThreadInvariant) {
  const fs::path dir = variant_dir("gelu_plain");
  EMBEDRT_REQUIRE_FIXTURE(dir / "last_hidden_state.npy");
  const TransformerEncoder encoder = TransformerEncoder::load(dir);
  const int64_t h = encoder.config().hidden_size;
  const Fixture f = read_fixture(dir);
  const size_t num_seqs = f.offsets.size() - 1;
  const int saved_threads = omp_get_max_threads();

  // Reference: each sequence alone, one thread.
  omp_set_num_threads(1);
  std::vector<std::vector<float>> alone(num_seqs);
  Workspace ws;
  for (size_t s = 0; s < num_seqs; ++s) {
    const std::span<const int32_t> ids(f.ids.data() + f.offsets[s],
                                       f.offsets[s + 1] - f.offsets[s]);
    const std::span<const int32_t> types(f.type_ids.data() + f.offsets[s], ids.size());
    const std::vector<int32_t> offsets{0, int32_t(ids.size())};
    const auto out = encoder.forward({ids, types, offsets}, ws);
    alone[s].assign(out.begin(), out.end());
  }

  // Reversed order, each sequence repeated so that the batch passes several row tiles.
  std::vector<int32_t> ids, types, offsets{0};
  std::vector<size_t> order;
  for (int rep = 0; rep < 12; ++rep) {
    for (size_t k = 0; k < num_seqs; ++k) {
      const size_t s = (rep % 2) ? k : num_seqs - 1 - k;
      ids.insert(ids.end(), f.ids.begin() + f.offsets[s], f.ids.begin() + f.offsets[s + 1]);
      types.insert(types.end(), f.type_ids.begin() + f.offsets[s],
                   f.type_ids.begin() + f.offsets[s + 1]);
      offsets.push_back(int32_t(ids.size()));
      order.push_back(s);
    }
  }
  std::vector<int> thread_counts{1, 2};
  if (omp_get_num_procs() > 2) thread_counts.push_back(omp_get_num_procs());
  for (int threads : thread_counts) {
    omp_set_num_threads(threads);
    Workspace batch_ws;
    const auto out = encoder.forward({ids, types, offsets}, batch_ws);
    for (size_t k = 0; k < order.size(); ++k) {
      EXPECT_EQ(sequence_rows(out, offsets, k, h), alone[order[k]])
          << "sequence " << order[k] << " at batch position " << k << ", threads " << threads;
    }
  }
  omp_set_num_threads(saved_threads);
}

TEST(TransformerEncoder, WorkspaceIsReusedAcrossShrinkingAndGrowingBatches) {
  const fs::path dir = variant_dir("gelu_plain");
  EMBEDRT_REQUIRE_FIXTURE(dir / "last_hidden_state.npy");
  const TransformerEncoder encoder = TransformerEncoder::load(dir);
  const Fixture f = read_fixture(dir);
  Workspace ws;
  const auto first = encoder.forward({f.ids, f.type_ids, f.offsets}, ws);
  const std::vector<float> full(first.begin(), first.end());
  const std::vector<int32_t> small_offsets{0, f.offsets[1]};
  encoder.forward({std::span(f.ids).first(f.offsets[1]), std::span(f.type_ids).first(f.offsets[1]),
                   small_offsets},
                  ws);
  const auto again = encoder.forward({f.ids, f.type_ids, f.offsets}, ws);
  EXPECT_EQ(std::vector<float>(again.begin(), again.end()), full);
}

std::vector<float> forward_fixture(const TransformerEncoder& encoder, const Fixture& f) {
  Workspace ws;
  const auto out = encoder.forward({f.ids, f.type_ids, f.offsets}, ws);
  return {out.begin(), out.end()};
}

// Given the file's owner, an F32 word table that stays fp32 is read in place from the mapping: the
// weights hold the file, the encoder keeps it after the caller lets go, and every precision gives
// the bits of the copied table, with the same weight_bytes.
TEST(TransformerWeights, Fp32WordTableIsReadInPlaceFromTheFilesOwner) {
  const fs::path dir = variant_dir("gelu_plain");
  EMBEDRT_REQUIRE_FIXTURE(dir / "last_hidden_state.npy");
  const TransformerSpec spec = load_transformer_spec(dir / "config.json");
  const Fixture f = read_fixture(dir);
  const SafeTensorsFile copied_from(dir / "model.safetensors");
  {
    auto file = std::make_shared<const SafeTensorsFile>(dir / "model.safetensors");
    const TransformerWeights w = load_transformer_weights(file, spec);
    EXPECT_TRUE(w.word_embeddings.empty());
    ASSERT_FALSE(w.word_embeddings_mapped.empty());
    EXPECT_EQ(w.word_embeddings_mapped.size(), size_t(spec.vocab_size * spec.hidden_size * 4));
    EXPECT_EQ(w.file, file);
    // Kept in 16 bits (int8's half table), nothing is mapped and the file is not held.
    WeightLoadOptions half;
    half.word_embeddings = WordEmbeddings::kHalf;
    const TransformerWeights h = load_transformer_weights(file, spec, half);
    EXPECT_TRUE(h.word_embeddings_mapped.empty());
    EXPECT_FALSE(h.word_embeddings_half.empty());
    EXPECT_EQ(h.file, nullptr);
  }
  for (const kernels::Precision p :
       {kernels::Precision::kF32, kernels::Precision::kBF16, kernels::Precision::kInt8}) {
    EncoderOptions options;
    options.precision = p;
    auto file = std::make_shared<const SafeTensorsFile>(dir / "model.safetensors");
    const TransformerEncoder mapped(spec, load_transformer_weights(file, spec), options);
    file.reset();  // the encoder holds it now
    const TransformerEncoder copied(spec, load_transformer_weights(copied_from, spec), options);
    EXPECT_EQ(forward_fixture(mapped, f), forward_fixture(copied, f)) << kernels::to_string(p);
    EXPECT_EQ(mapped.weight_bytes(), copied.weight_bytes()) << kernels::to_string(p);
  }
}

// A table that does not lie 4-byte aligned in the file (a header padded to an odd length) is
// copied instead, with the same results.
TEST(TransformerWeights, UnalignedWordTableIsCopied) {
  const fs::path source = variant_dir("gelu_plain");
  EMBEDRT_REQUIRE_FIXTURE(source / "last_hidden_state.npy");
  const fs::path dir =
      fs::temp_directory_path() / ("embedrt_unaligned_" + std::to_string(getpid()));
  fs::create_directories(dir);
  fs::copy_file(source / "config.json", dir / "config.json", fs::copy_options::overwrite_existing);
  {
    std::ifstream in(source / "model.safetensors", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), sizeof n);
    const uint64_t padded = n + 1;  // one more space after the JSON
    std::ofstream out(dir / "model.safetensors", std::ios::binary);
    out.write(reinterpret_cast<const char*>(&padded), sizeof padded);
    out << bytes.substr(8, n) << ' ' << bytes.substr(8 + n);
  }
  const TransformerSpec spec = load_transformer_spec(dir / "config.json");
  const auto file = std::make_shared<const SafeTensorsFile>(dir / "model.safetensors");
  const TransformerWeights w = load_transformer_weights(file, spec);
  EXPECT_TRUE(w.word_embeddings_mapped.empty());
  EXPECT_FALSE(w.word_embeddings.empty());
  const Fixture f = read_fixture(source);
  EXPECT_EQ(forward_fixture(TransformerEncoder::load(dir), f),
            forward_fixture(TransformerEncoder::load(source), f));
  fs::remove_all(dir);
}

void expect_input_error(const TransformerEncoder& encoder, const PackedBatch& batch, ErrorCode code,
                        const std::string& text) {
  Workspace ws;
  try {
    encoder.forward(batch, ws);
    FAIL() << "expected an error containing " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST(TransformerEncoder, RejectsInconsistentInput) {
  const fs::path dir = variant_dir("gelu_plain");
  EMBEDRT_REQUIRE_FIXTURE(dir / "config.json");
  const TransformerEncoder encoder = TransformerEncoder::load(dir);
  const std::vector<int32_t> ids{1, 2, 3}, types{0, 1, 0};
  expect_input_error(encoder, {ids, types, std::vector<int32_t>{0, 2}}, ErrorCode::kInvalidArgument,
                     "offsets end at 2");
  expect_input_error(encoder, {ids, types, std::vector<int32_t>{1, 3}}, ErrorCode::kInvalidArgument,
                     "offsets must start with 0");
  expect_input_error(encoder, {ids, types, std::vector<int32_t>{0, 3, 2, 3}},
                     ErrorCode::kInvalidArgument, "offsets decrease");
  expect_input_error(encoder, {ids, std::vector<int32_t>{0}, std::vector<int32_t>{0, 3}},
                     ErrorCode::kInvalidArgument, "token_type_ids");
  const std::vector<int32_t> bad_id{1, 5000, 3};
  expect_input_error(encoder, {bad_id, types, std::vector<int32_t>{0, 3}},
                     ErrorCode::kInvalidArgument, "id 5000");
  const std::vector<int32_t> bad_type{0, 2, 0};
  expect_input_error(encoder, {ids, bad_type, std::vector<int32_t>{0, 3}},
                     ErrorCode::kInvalidArgument, "token type id 2");
  const std::vector<int32_t> long_ids(encoder.config().max_position_embeddings + 1, 1);
  expect_input_error(encoder, {long_ids, {}, std::vector<int32_t>{0, int32_t(long_ids.size())}},
                     ErrorCode::kInputTooLong, "max_position_embeddings");
}

TEST(TransformerEncoder, EmptyTypeIdsMeanTypeZero) {
  const fs::path dir = variant_dir("gelu_plain");
  EMBEDRT_REQUIRE_FIXTURE(dir / "config.json");
  const TransformerEncoder encoder = TransformerEncoder::load(dir);
  const std::vector<int32_t> ids{4, 9, 17}, zeros{0, 0, 0}, offsets{0, 3};
  Workspace a, b;
  const auto with = encoder.forward({ids, zeros, offsets}, a);
  const auto without = encoder.forward({ids, {}, offsets}, b);
  EXPECT_TRUE(std::equal(with.begin(), with.end(), without.begin(), without.end()));
}

class WeightMismatch : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("embedrt_weights_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(WeightMismatch, ListsEveryMissingUnexpectedAndMisshapedTensor) {
  const fs::path source = variant_dir("gelu_plain");
  EMBEDRT_REQUIRE_FIXTURE(source / "config.json");
  // The fixture's weights against a config with one more layer, a wider FFN and a bigger vocab.
  TransformerSpec config = load_transformer_spec(source / "config.json");
  config.num_hidden_layers += 1;
  config.intermediate_size += 1;
  const SafeTensorsFile file(source / "model.safetensors");
  try {
    load_transformer_weights(file, config);
    FAIL() << "expected a mismatch";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
    EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing (16)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("encoder.layer.2.attention.self.query.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mis-shaped (6)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("encoder.layer.1.intermediate.dense.weight [37, 32] (expected [38, 32])"),
              std::string::npos)
        << msg;
    EXPECT_EQ(msg.find("unexpected"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
  config = load_transformer_spec(source / "config.json");
  config.num_hidden_layers -= 1;
  try {
    load_transformer_weights(file, config);
    FAIL() << "expected a mismatch";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unexpected (16): encoder.layer.1."), std::string::npos)
        << e.what();
  }
}

fs::path tiny_mpnet_dir() {
  return embedrt::testing::test_data_dir() / "family-models" / "tiny-mpnet";
}

// The relative bias table is sized by the batch's longest sequence; a sequence's bits must not
// depend on it (nor on its neighbours), so each sequence alone equals the batch.
TEST(TransformerEncoder, RelativeBiasIsBatchInvariant) {
  const fs::path dir = tiny_mpnet_dir();
  EMBEDRT_REQUIRE_FIXTURE(dir / "model.safetensors");
  const TransformerEncoder encoder = TransformerEncoder::load(dir);
  ASSERT_EQ(encoder.config().relative_attention_num_buckets, 32);
  const int64_t h = encoder.config().hidden_size;
  const std::vector<int64_t> lengths{3, 128, 1, 40, 17};
  std::vector<int32_t> ids, offsets{0};
  for (const int64_t len : lengths) {
    for (int64_t t = 0; t < len; ++t) ids.push_back(int32_t(1000 + (t * 37 + len) % 20000));
    offsets.push_back(int32_t(ids.size()));
  }
  Workspace batch_ws;
  const auto batch = encoder.forward({ids, {}, offsets}, batch_ws);
  std::vector<float> together(batch.begin(), batch.end());
  for (size_t s = 0; s < lengths.size(); ++s) {
    const std::span<const int32_t> one(ids.data() + offsets[s], size_t(lengths[s]));
    const std::vector<int32_t> one_offsets{0, int32_t(lengths[s])};
    Workspace ws;
    const auto alone = encoder.forward({one, {}, one_offsets}, ws);
    EXPECT_TRUE(std::equal(alone.begin(), alone.end(), together.begin() + offsets[s] * h))
        << "sequence " << s;
  }
}

TEST(TransformerWeights, RelativeBiasTableMustMatchTheSpec) {
  const fs::path dir = tiny_mpnet_dir();
  EMBEDRT_REQUIRE_FIXTURE(dir / "model.safetensors");
  const SafeTensorsFile file(dir / "model.safetensors");
  TransformerSpec spec = load_transformer_spec(dir / "config.json");
  const auto error_of = [&](const TransformerSpec& s) {
    try {
      load_transformer_weights(file, s);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(load_transformer_weights(file, spec).relative_attention_bias.size(), 32u * 4u);
  spec.relative_attention_num_buckets = 0;  // a spec without the bias, a file with it
  std::string msg = error_of(spec);
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected (1): encoder.relative_attention_bias.weight"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("relative_attention_num_buckets"), std::string::npos) << msg;
  spec.relative_attention_num_buckets = 16;
  msg = error_of(spec);
  EXPECT_NE(msg.find("encoder.relative_attention_bias.weight [32, 4] (expected [16, 4])"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("relative_attention_num_buckets"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(TransformerWeights, DetectsPrefixes) {
  const std::pair<const char*, const char*> cases[] = {
      {"gelu_plain", ""}, {"gelu_new_masked_lm", "bert."}, {"relu_st_f16", "0.auto_model."}};
  for (const auto& [variant, prefix] : cases) {
    const fs::path file = variant_dir(variant) / "model.safetensors";
    EMBEDRT_REQUIRE_FIXTURE(file);
    const TransformerSpec spec = load_transformer_spec(variant_dir(variant) / "config.json");
    EXPECT_EQ(detect_encoder_prefix(SafeTensorsFile(file), spec), prefix) << variant;
  }
}

}  // namespace
}  // namespace embedrt::model
