#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

// Expected values come from HF tokenizers 0.23 (Tokenizer.from_str on the same JSON, offsets
// converted from characters to bytes).
namespace embedrt::tokenizer {
namespace {

using testing::expect_encodes;
using testing::Expected;

constexpr const char* kUnigram =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 1}}, {"SpecialToken": {"id": "</s>", "type_id": 2}}], "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}, "</s>": {"id": "</s>", "ids": [2, 3], "tokens": ["</s>", "▁"]}}}, "decoder": null, "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["<s>", 0.0], ["</s>", 0.0], ["▁", -1.5], ["a", -2.0], ["b", -2.5], ["ab", -3.0], ["abc", -4.5], ["c", -3.2], ["bc", -2.9], ["é", -4.0], ["<0x78>", -9.0], ["<0x79>", -9.0], ["<0xC3>", -9.0], ["<0xBC>", -9.0], ["xy", -20.0]], "byte_fallback": false}})json";
constexpr const char* kUnigramByteFallback =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 1}}, {"SpecialToken": {"id": "</s>", "type_id": 2}}], "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}, "</s>": {"id": "</s>", "ids": [2, 3], "tokens": ["</s>", "▁"]}}}, "decoder": null, "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["<s>", 0.0], ["</s>", 0.0], ["▁", -1.5], ["a", -2.0], ["b", -2.5], ["ab", -3.0], ["abc", -4.5], ["c", -3.2], ["bc", -2.9], ["é", -4.0], ["<0x78>", -9.0], ["<0x79>", -9.0], ["<0xC3>", -9.0], ["<0xBC>", -9.0], ["xy", -20.0]], "byte_fallback": true}})json";

TEST(Unigram, ViterbiFusesUnknownsAndAppliesTemplate) {
  const Tokenizer tokenizer =
      Tokenizer::from_json(kUnigram, "ViterbiFusesUnknownsAndAppliesTemplate.json");
  expect_encodes(
      tokenizer,
      {
          {"abc", {1, 7, 2, 3}, {{0, 0}, {0, 3}, {0, 0}, {0, 0}}, {0, 1, 2, 2}},
          {"abcab", {1, 7, 6, 2, 3}, {{0, 0}, {0, 3}, {3, 5}, {0, 0}, {0, 0}}, {0, 1, 1, 2, 2}},
          {"\xE2"
           "\x96"
           "\x81"
           "ab\xE2"
           "\x96"
           "\x81"
           "c",
           {1, 3, 6, 3, 8, 2, 3},
           {{0, 0}, {0, 3}, {3, 5}, {5, 8}, {8, 9}, {0, 0}, {0, 0}},
           {0, 1, 1, 1, 1, 2, 2}},
          {"xyzab",
           {1, 15, 0, 6, 2, 3},
           {{0, 0}, {0, 2}, {2, 3}, {3, 5}, {0, 0}, {0, 0}},
           {0, 1, 1, 1, 2, 2}},
          {"a\xC3"
           "\xBC"
           "xyb",
           {1, 4, 0, 15, 5, 2, 3},
           {{0, 0}, {0, 1}, {1, 3}, {3, 5}, {5, 6}, {0, 0}, {0, 0}},
           {0, 1, 1, 1, 1, 2, 2}},
          {"xy", {1, 15, 2, 3}, {{0, 0}, {0, 2}, {0, 0}, {0, 0}}, {0, 1, 2, 2}},
          {"\xC3"
           "\xA9"
           "a",
           {1, 10, 4, 2, 3},
           {{0, 0}, {0, 2}, {2, 3}, {0, 0}, {0, 0}},
           {0, 1, 1, 2, 2}},
          {"q", {1, 0, 2, 3}, {{0, 0}, {0, 1}, {0, 0}, {0, 0}}, {0, 1, 2, 2}},
          {"zzz", {1, 0, 2, 3}, {{0, 0}, {0, 3}, {0, 0}, {0, 0}}, {0, 1, 2, 2}},
      },
      true);
}

TEST(Unigram, ByteFallbackSpellsUnknownBytes) {
  const Tokenizer tokenizer =
      Tokenizer::from_json(kUnigramByteFallback, "ByteFallbackSpellsUnknownBytes.json");
  expect_encodes(
      tokenizer,
      {
          {"abc", {1, 7, 2, 3}, {{0, 0}, {0, 3}, {0, 0}, {0, 0}}, {0, 1, 2, 2}},
          {"abcab", {1, 7, 6, 2, 3}, {{0, 0}, {0, 3}, {3, 5}, {0, 0}, {0, 0}}, {0, 1, 1, 2, 2}},
          {"\xE2"
           "\x96"
           "\x81"
           "ab\xE2"
           "\x96"
           "\x81"
           "c",
           {1, 3, 6, 3, 8, 2, 3},
           {{0, 0}, {0, 3}, {3, 5}, {5, 8}, {8, 9}, {0, 0}, {0, 0}},
           {0, 1, 1, 1, 1, 2, 2}},
          {"xyzab",
           {1, 15, 0, 6, 2, 3},
           {{0, 0}, {0, 2}, {2, 3}, {3, 5}, {0, 0}, {0, 0}},
           {0, 1, 1, 1, 2, 2}},
          {"a\xC3"
           "\xBC"
           "xyb",
           {1, 4, 13, 14, 15, 5, 2, 3},
           {{0, 0}, {0, 1}, {1, 3}, {1, 3}, {3, 5}, {5, 6}, {0, 0}, {0, 0}},
           {0, 1, 1, 1, 1, 1, 2, 2}},
          {"xy", {1, 15, 2, 3}, {{0, 0}, {0, 2}, {0, 0}, {0, 0}}, {0, 1, 2, 2}},
          {"\xC3"
           "\xA9"
           "a",
           {1, 10, 4, 2, 3},
           {{0, 0}, {0, 2}, {2, 3}, {0, 0}, {0, 0}},
           {0, 1, 1, 2, 2}},
          {"q", {1, 0, 2, 3}, {{0, 0}, {0, 1}, {0, 0}, {0, 0}}, {0, 1, 2, 2}},
          {"zzz", {1, 0, 2, 3}, {{0, 0}, {0, 3}, {0, 0}, {0, 0}}, {0, 1, 2, 2}},
      },
      true);
}

}  // namespace
}  // namespace embedrt::tokenizer
