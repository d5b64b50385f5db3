#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

// Expected values come from HF tokenizers 0.23 (Tokenizer.from_str on the same JSON, offsets
// converted from characters to bytes).
namespace embedrt::tokenizer {
namespace {

using testing::expect_encodes;
using testing::Expected;

constexpr const char* kWordPiece =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]}, "decoder": null, "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 8, "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "un": 3, "##aff": 4, "##able": 5, "a": 6, "##b": 7, "é": 8, "##é": 9, "hello": 10, "##llo": 11, "he": 12, "h": 13, "##a": 14}}})json";

TEST(WordPiece, GreedyLongestMatchUnknownWordsAndCharLimit) {
  const Tokenizer tokenizer =
      Tokenizer::from_json(kWordPiece, "GreedyLongestMatchUnknownWordsAndCharLimit.json");
  expect_encodes(
      tokenizer,
      {
          {"unaffable", {1, 0, 2}, {{0, 0}, {0, 9}, {0, 0}}, {0, 0, 0}},
          {"unaffablex", {1, 0, 2}, {{0, 0}, {0, 10}, {0, 0}}, {0, 0, 0}},
          {"a\xC3"
           "\xA9"
           "\xC3"
           "\xA9"
           "",
           {1, 6, 9, 9, 2},
           {{0, 0}, {0, 1}, {1, 3}, {3, 5}, {0, 0}},
           {0, 0, 0, 0, 0}},
          {"hello", {1, 10, 2}, {{0, 0}, {0, 5}, {0, 0}}, {0, 0, 0}},
          {"unaffableab", {1, 0, 2}, {{0, 0}, {0, 11}, {0, 0}}, {0, 0, 0}},
          {"h\xC3"
           "\xA9"
           "llo",
           {1, 13, 9, 11, 2},
           {{0, 0}, {0, 1}, {1, 3}, {3, 6}, {0, 0}},
           {0, 0, 0, 0, 0}},
          {"ha", {1, 13, 14, 2}, {{0, 0}, {0, 1}, {1, 2}, {0, 0}}, {0, 0, 0, 0}},
          {"aaaaaaaa",
           {1, 6, 14, 14, 14, 14, 14, 14, 14, 2},
           {{0, 0}, {0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}, {6, 7}, {7, 8}, {0, 0}},
           {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
          {"aaaaaaaaa", {1, 0, 2}, {{0, 0}, {0, 9}, {0, 0}}, {0, 0, 0}},
          {"", {1, 2}, {{0, 0}, {0, 0}}, {0, 0}},
      },
      true);
}

TEST(WordPiece, WithoutSpecialTokens) {
  const Tokenizer tokenizer = Tokenizer::from_json(kWordPiece, "WithoutSpecialTokens.json");
  expect_encodes(tokenizer,
                 {
                     {"unaffable", {0}, {{0, 9}}, {0}},
                 },
                 false);
}

}  // namespace
}  // namespace embedrt::tokenizer
