#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace embedrt::tokenizer {
namespace {

using testing::expect_encodes;
using testing::Expected;

constexpr const char* kWordPiece =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]}, "decoder": null, "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 8, "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "un": 3, "##aff": 4, "##able": 5, "a": 6, "##b": 7, "é": 8, "##é": 9, "hello": 10, "##llo": 11, "he": 12, "h": 13, "##a": 14}}})json";

// Expected values from HF tokenizers 0.23 with truncation enabled on the same JSON.
TEST(Truncation, RightKeepsRoomForSpecialTokens) {
  Tokenizer tokenizer = Tokenizer::from_json(kWordPiece, "wp.json");
  tokenizer.set_truncation({4, TruncationSide::kRight});
  expect_encodes(tokenizer,
                 {
                     {"aaaaaaaa", {1, 6, 14, 2}, {{0, 0}, {0, 1}, {1, 2}, {0, 0}}, {0, 0, 0, 0}},
                     {"ha", {1, 13, 14, 2}, {{0, 0}, {0, 1}, {1, 2}, {0, 0}}, {0, 0, 0, 0}},
                 },
                 true);
}

TEST(Truncation, Left) {
  Tokenizer tokenizer = Tokenizer::from_json(kWordPiece, "wp.json");
  tokenizer.set_truncation({4, TruncationSide::kLeft});
  expect_encodes(tokenizer,
                 {
                     {"aaaaaaaa", {1, 14, 14, 2}, {{0, 0}, {6, 7}, {7, 8}, {0, 0}}, {0, 0, 0, 0}},
                     {"ha", {1, 13, 14, 2}, {{0, 0}, {0, 1}, {1, 2}, {0, 0}}, {0, 0, 0, 0}},
                 },
                 true);
}

TEST(Truncation, CountsDroppedTokensAndSkipsRoomWithoutSpecialTokens) {
  Tokenizer tokenizer = Tokenizer::from_json(kWordPiece, "wp.json");
  tokenizer.set_truncation({4, TruncationSide::kRight});
  EXPECT_EQ(tokenizer.encode("aaaaaaaa").truncated_tokens, 6u);
  const Encoding plain = tokenizer.encode("aaaaaaaa", false);
  EXPECT_EQ(plain.ids, (std::vector<int32_t>{6, 14, 14, 14}));
  EXPECT_EQ(plain.truncated_tokens, 4u);
  EXPECT_EQ(tokenizer.encode("ha").truncated_tokens, 0u);
}

TEST(Truncation, ReadFromTheJsonTruncationField) {
  std::string json = kWordPiece;
  json.replace(
      json.find("\"truncation\": null"), 18,
      R"("truncation": {"direction": "Left", "max_length": 4, "strategy": "LongestFirst", "stride": 0})");
  const Tokenizer tokenizer = Tokenizer::from_json(json, "wp.json");
  EXPECT_EQ(tokenizer.truncation().max_length, 4u);
  EXPECT_EQ(tokenizer.truncation().side, TruncationSide::kLeft);
  EXPECT_EQ(tokenizer.encode("aaaaaaaa").ids, (std::vector<int32_t>{1, 14, 14, 2}));
}

TEST(Tokenizer, EncodeBatchMatchesEncodeOnEveryThreadCount) {
  const Tokenizer tokenizer = Tokenizer::from_json(kWordPiece, "wp.json");
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i)
    texts.push_back(std::string(static_cast<size_t>(i % 11), 'a') + "h\xC3\xA9llo");
  std::vector<std::string_view> views(texts.begin(), texts.end());
  for (const int threads : {1, 2, 0}) {
    const std::vector<Encoding> batch = tokenizer.encode_batch(views, true, threads);
    ASSERT_EQ(batch.size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      const Encoding single = tokenizer.encode(texts[i]);
      EXPECT_EQ(batch[i].ids, single.ids) << i;
      EXPECT_EQ(batch[i].offsets, single.offsets) << i;
    }
  }
}

TEST(Tokenizer, VocabularyLookups) {
  const Tokenizer tokenizer = Tokenizer::from_json(kWordPiece, "wp.json");
  EXPECT_EQ(tokenizer.vocab_size(), 15u);
  EXPECT_EQ(tokenizer.token_to_id("##able"), 5);
  EXPECT_EQ(tokenizer.token_to_id("absent"), std::nullopt);
  EXPECT_EQ(tokenizer.id_to_token(9), "##\xC3\xA9");
  EXPECT_EQ(tokenizer.id_to_token(15), std::nullopt);
  EXPECT_EQ(tokenizer.id_to_token(-1), std::nullopt);
}

// The real all-MiniLM-L6-v2 tokenizer (BertNormalizer, BertPreTokenizer, WordPiece, template).
TEST(Tokenizer, AllMiniLmMatchesHuggingFace) {
  const auto path = embedrt::testing::test_data_dir() / "models/all-MiniLM-L6-v2/tokenizer.json";
  EMBEDRT_REQUIRE_FIXTURE(path);
  Tokenizer tokenizer = Tokenizer::from_file(path);
  EXPECT_EQ(tokenizer.truncation().max_length, 128u);
  EXPECT_EQ(tokenizer.special_tokens_added(), 2u);
  EXPECT_EQ(tokenizer.vocab_size(), 30522u);
  tokenizer.set_truncation({});
  expect_encodes(tokenizer,
                 {
                     {"This is an example sentence.",
                      {101, 2023, 2003, 2019, 2742, 6251, 1012, 102},
                      {{0, 0}, {0, 4}, {5, 7}, {8, 10}, {11, 18}, {19, 27}, {27, 28}, {0, 0}},
                      {0, 0, 0, 0, 0, 0, 0, 0}},
                     {"H\xC3"
                      "\xA9"
                      "llo, WORLD!! na\xC3"
                      "\xAF"
                      "ve caf\xC3"
                      "\xA9"
                      " \xE2"
                      "\x80"
                      "\x94"
                      " \xE6"
                      "\x9D"
                      "\xB1"
                      "\xE4"
                      "\xBA"
                      "\xAC"
                      "\xE3"
                      "\x82"
                      "\xBF"
                      "\xE3"
                      "\x83"
                      "\xAF"
                      "\xE3"
                      "\x83"
                      "\xBC"
                      "",
                      {101, 7592, 1010, 2088, 999, 999, 15743, 7668, 1517, 1879, 1755, 1709, 30262,
                       30265, 102},
                      {{0, 0},
                       {0, 6},
                       {6, 7},
                       {8, 13},
                       {13, 14},
                       {14, 15},
                       {16, 22},
                       {23, 28},
                       {29, 32},
                       {33, 36},
                       {36, 39},
                       {39, 42},
                       {42, 45},
                       {45, 48},
                       {0, 0}},
                      {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
                     {"unbelievably  tokenized\x09"
                      "text [SEP] ok",
                      {101, 4895, 8671, 2666, 3567, 6321, 19204, 3550, 3793, 102, 7929, 102},
                      {{0, 0},
                       {0, 2},
                       {2, 5},
                       {5, 7},
                       {7, 9},
                       {9, 12},
                       {14, 19},
                       {19, 23},
                       {24, 28},
                       {29, 34},
                       {35, 37},
                       {0, 0}},
                      {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
                     {"[MASK]ed words and 3.14159 numbers",
                      {101, 103, 3968, 2616, 1998, 1017, 1012, 15471, 28154, 3616, 102},
                      {{0, 0},
                       {0, 6},
                       {6, 8},
                       {9, 14},
                       {15, 18},
                       {19, 20},
                       {20, 21},
                       {21, 24},
                       {24, 26},
                       {27, 34},
                       {0, 0}},
                      {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
                 });
}

}  // namespace
}  // namespace embedrt::tokenizer
