#include "model/pooling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "embedrt/error.h"
#include "npy.h"
#include "support/test_paths.h"

namespace embedrt::model {
namespace {

namespace fs = std::filesystem;
using embedrt::testing::read_npy;

class PoolingParity : public ::testing::TestWithParam<std::string> {};

// Against sentence-transformers' Pooling module run on the same embeddings (padded batch).
TEST_P(PoolingParity, MatchesSentenceTransformers) {
  const fs::path dir = embedrt::testing::test_data_dir() / "encoder" / "pooling" / GetParam();
  EMBEDRT_REQUIRE_FIXTURE(dir / "expected.npy");
  const PoolingConfig config = load_pooling_config(dir / "1_Pooling" / "config.json");
  const auto hidden = read_npy<float>(dir / "hidden.npy");
  const auto offsets = read_npy<int32_t>(dir / "offsets.npy").data;
  const auto expected = read_npy<float>(dir / "expected.npy");
  int64_t prompt_length = 0;
  std::ifstream(dir / "prompt_length.txt") >> prompt_length;
  ASSERT_EQ(expected.shape.at(1), config.output_dimension());
  std::vector<float> out(expected.data.size(), NAN);
  pool(config, hidden.data, hidden.shape.at(1), offsets, prompt_length, out.data());
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_NEAR(out[i], expected.data[i], 1e-5f) << "element " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, PoolingParity,
                         ::testing::Values("cls", "mean", "max", "mean_sqrt_len_tokens",
                                           "weightedmean", "lasttoken", "mean_max_cls",
                                           "legacy_all", "mean_no_prompt",
                                           "weightedmean_cls_no_prompt"));

// Small cases computed by hand.
TEST(Pooling, HandComputedModes) {
  // Two sequences of hidden size 2: {(1,2),(3,-4),(5,0)} and {(-1,7)}.
  const std::vector<float> hidden{1, 2, 3, -4, 5, 0, -1, 7};
  const std::vector<int32_t> offsets{0, 3, 4};
  PoolingConfig c;
  c.embedding_dimension = 2;
  c.modes = {PoolingMode::kWeightedMean, PoolingMode::kMax, PoolingMode::kMeanSqrtLen};
  std::vector<float> out(2 * 6);
  pool(c, hidden, 2, offsets, 0, out.data());
  // weighted mean: (1*(1,2) + 2*(3,-4) + 3*(5,0)) / 6 = (22/6, -6/6)
  EXPECT_FLOAT_EQ(out[0], 22.0f / 6);
  EXPECT_FLOAT_EQ(out[1], -1.0f);
  EXPECT_FLOAT_EQ(out[2], 5.0f);
  EXPECT_FLOAT_EQ(out[3], 2.0f);
  EXPECT_FLOAT_EQ(out[4], 9.0f / std::sqrt(3.0f));
  EXPECT_FLOAT_EQ(out[5], -2.0f / std::sqrt(3.0f));
  EXPECT_EQ(std::vector<float>(out.begin() + 6, out.end()),
            (std::vector<float>{-1, 7, -1, 7, -1, 7}));
}

TEST(Pooling, PromptLengthIgnoredWhenPromptIncluded) {
  const std::vector<float> hidden{1, 2, 3};
  const std::vector<int32_t> offsets{0, 3};
  PoolingConfig c;
  c.embedding_dimension = 1;
  float out = 0;
  pool(c, hidden, 1, offsets, 2, &out);
  EXPECT_FLOAT_EQ(out, 2.0f);
  c.include_prompt = false;
  pool(c, hidden, 1, offsets, 2, &out);
  EXPECT_FLOAT_EQ(out, 3.0f);
}

TEST(Pooling, SequenceWithOnlyPromptIsAnError) {
  const std::vector<float> hidden{1, 2, 3};
  const std::vector<int32_t> offsets{0, 1, 3};
  PoolingConfig c;
  c.embedding_dimension = 1;
  c.include_prompt = false;
  std::vector<float> out(2);
  try {
    pool(c, hidden, 1, offsets, 1, out.data());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("sequence 0"), std::string::npos) << e.what();
  }
}

TEST(Pooling, DimensionMismatchIsAModelError) {
  PoolingConfig c;
  c.embedding_dimension = 4;
  const std::vector<float> hidden(6);
  const std::vector<int32_t> offsets{0, 2};
  std::vector<float> out(4);
  EXPECT_THROW(pool(c, hidden, 3, offsets, 0, out.data()), Error);
}

TEST(Pooling, L2NormalizeMatchesTorch) {
  std::vector<float> rows{3, 4, 0, 0, 0, 0};
  l2_normalize(rows.data(), 2, 3);
  EXPECT_FLOAT_EQ(rows[0], 0.6f);
  EXPECT_FLOAT_EQ(rows[1], 0.8f);
  EXPECT_EQ(rows[3], 0.0f);  // the zero vector stays zero, as with F.normalize's eps
}

void expect_config_error(const std::string& json, ErrorCode code, const std::string& field) {
  try {
    parse_pooling_config(json, "1_Pooling/config.json");
    FAIL() << "expected an error naming " << field;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("1_Pooling/config.json: " + field, 0), 0u) << e.what();
  }
}

TEST(PoolingConfig, ParsesBothForms) {
  auto c = parse_pooling_config(
      R"({"word_embedding_dimension": 384, "pooling_mode_cls_token": false,
          "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false,
          "pooling_mode_mean_sqrt_len_tokens": false})",
      "f");
  EXPECT_EQ(c.embedding_dimension, 384);
  EXPECT_EQ(c.modes, std::vector<PoolingMode>{PoolingMode::kMean});
  EXPECT_TRUE(c.include_prompt);
  c = parse_pooling_config(
      R"({"embedding_dimension": 8, "pooling_mode": ["lasttoken", "cls"], "include_prompt": false})",
      "f");
  EXPECT_EQ(c.modes, (std::vector<PoolingMode>{PoolingMode::kLastToken, PoolingMode::kCls}));
  EXPECT_FALSE(c.include_prompt);
  EXPECT_EQ(c.output_dimension(), 16);
  c = parse_pooling_config(R"({"embedding_dimension": 8})", "f");
  EXPECT_EQ(c.modes, std::vector<PoolingMode>{PoolingMode::kMean});
}

TEST(PoolingConfig, ErrorsNameTheField) {
  expect_config_error(R"({"pooling_mode": "mean"})", ErrorCode::kInvalidModel,
                      "embedding_dimension");
  expect_config_error(R"({"embedding_dimension": 0})", ErrorCode::kInvalidModel,
                      "embedding_dimension");
  expect_config_error(R"({"embedding_dimension": 4, "pooling_mode": "median"})",
                      ErrorCode::kUnsupported, "pooling_mode");
  expect_config_error(R"({"embedding_dimension": 4, "pooling_mode": ["mean", 3]})",
                      ErrorCode::kInvalidModel, "pooling_mode[1]");
  expect_config_error(R"({"embedding_dimension": 4, "pooling_mode_cls_token": "yes"})",
                      ErrorCode::kInvalidModel, "pooling_mode_cls_token");
  expect_config_error(R"({"embedding_dimension": 4, "include_prompt": 1})",
                      ErrorCode::kInvalidModel, "include_prompt");
  // nlohmann::json throws out_of_range, not parse_error, for a number it cannot hold.
  expect_config_error(R"({"embedding_dimension": 1e400})", ErrorCode::kInvalidModel,
                      "invalid JSON");
}

}  // namespace
}  // namespace embedrt::model
