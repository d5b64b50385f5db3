#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

// Expected values come from HF tokenizers 0.23 (Tokenizer.from_str on the same JSON, offsets
// converted from characters to bytes).
namespace embedrt::tokenizer {
namespace {

using testing::expect_encodes;
using testing::Expected;

constexpr const char* kAdded =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [{"id": 1, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}, {"id": 2, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}, {"id": 15, "content": "<mask>", "single_word": false, "lstrip": true, "rstrip": false, "normalized": false, "special": true}, {"id": 16, "content": "<r>", "single_word": false, "lstrip": false, "rstrip": true, "normalized": false, "special": true}, {"id": 17, "content": "ab", "single_word": true, "lstrip": false, "rstrip": false, "normalized": true, "special": false}, {"id": 18, "content": "hello world", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false}, {"id": 19, "content": "hell", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false}], "normalizer": null, "pre_tokenizer": null, "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]}, "decoder": null, "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 8, "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "un": 3, "##aff": 4, "##able": 5, "a": 6, "##b": 7, "é": 8, "##é": 9, "hello": 10, "##llo": 11, "he": 12, "h": 13, "##a": 14}}})json";

TEST(AddedTokens, StripSingleWordAndLongestMatch) {
  const Tokenizer tokenizer = Tokenizer::from_json(kAdded, "StripSingleWordAndLongestMatch.json");
  expect_encodes(
      tokenizer,
      {
          {"a<mask>b", {1, 6, 15, 0, 2}, {{0, 0}, {0, 1}, {1, 7}, {7, 8}, {0, 0}}, {0, 0, 0, 0, 0}},
          {"a  <mask>b",
           {1, 6, 15, 0, 2},
           {{0, 0}, {0, 1}, {1, 9}, {9, 10}, {0, 0}},
           {0, 0, 0, 0, 0}},
          {"<r>  a", {1, 16, 6, 2}, {{0, 0}, {0, 5}, {5, 6}, {0, 0}}, {0, 0, 0, 0}},
          {"ab", {1, 17, 2}, {{0, 0}, {0, 2}, {0, 0}}, {0, 0, 0}},
          {"a ab b", {1, 0, 17, 0, 2}, {{0, 0}, {0, 2}, {2, 4}, {4, 6}, {0, 0}}, {0, 0, 0, 0, 0}},
          {"aab", {1, 6, 14, 7, 2}, {{0, 0}, {0, 1}, {1, 2}, {2, 3}, {0, 0}}, {0, 0, 0, 0, 0}},
          {"ab.", {1, 17, 0, 2}, {{0, 0}, {0, 2}, {2, 3}, {0, 0}}, {0, 0, 0, 0}},
          {"hello world", {1, 18, 2}, {{0, 0}, {0, 11}, {0, 0}}, {0, 0, 0}},
          {"hellohello",
           {1, 19, 0, 19, 0, 2},
           {{0, 0}, {0, 4}, {4, 5}, {5, 9}, {9, 10}, {0, 0}},
           {0, 0, 0, 0, 0, 0}},
          {"[CLS]hello[SEP]",
           {1, 1, 19, 0, 2, 2},
           {{0, 0}, {0, 5}, {5, 9}, {9, 10}, {10, 15}, {0, 0}},
           {0, 0, 0, 0, 0, 0}},
          {"a \x09"
           "<mask>",
           {1, 6, 15, 2},
           {{0, 0}, {0, 1}, {1, 9}, {0, 0}},
           {0, 0, 0, 0}},
          {"x<r> \xE3"
           "\x80"
           "\x80"
           "y",
           {1, 0, 16, 0, 2},
           {{0, 0}, {0, 1}, {1, 8}, {8, 9}, {0, 0}},
           {0, 0, 0, 0, 0}},
          {"<mask><mask>", {1, 15, 15, 2}, {{0, 0}, {0, 6}, {6, 12}, {0, 0}}, {0, 0, 0, 0}},
      },
      true);
}

TEST(AddedTokens, IdsFollowTheModelVocabulary) {
  const Tokenizer tokenizer = Tokenizer::from_json(kAdded, "added.json");
  EXPECT_EQ(tokenizer.token_to_id("[CLS]"), 1);
  EXPECT_EQ(tokenizer.token_to_id("<mask>"), 15);
  EXPECT_EQ(tokenizer.token_to_id("hell"), 19);
  EXPECT_EQ(tokenizer.id_to_token(18), "hello world");
  EXPECT_EQ(tokenizer.id_to_token(4), "##aff");
  EXPECT_EQ(tokenizer.vocab_size(), 20u);
}

}  // namespace
}  // namespace embedrt::tokenizer
