#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

// Expected values come from HF tokenizers 0.23 (Tokenizer.from_str on the same JSON, offsets
// converted from characters to bytes).
namespace embedrt::tokenizer {
namespace {

using testing::expect_encodes;
using testing::Expected;

constexpr const char* kBpe =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null, "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": {"<unk>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "bc": 5, "abc": 6, " ": 7, "d": 8, " a": 9, " ab": 10, "<0x7A>": 11, "<0xC3>": 12, "<0xA9>": 13, "cd": 14, "é": 15, "abcd": 16}, "merges": ["#version: 0.2", "a b", "b c", "ab c", "c d", "ab cd"]}})json";
constexpr const char* kBpeArrayMerges =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null, "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": {"<unk>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "bc": 5, "abc": 6, " ": 7, "d": 8, " a": 9, " ab": 10, "<0x7A>": 11, "<0xC3>": 12, "<0xA9>": 13, "cd": 14, "é": 15, "abcd": 16}, "merges": [["a", "b"], ["b", "c"], ["ab", "c"], [" ", "a"], [" a", "b"], ["c", "d"], ["ab", "cd"]]}})json";
constexpr const char* kBpeFuseUnk =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null, "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": false, "ignore_merges": false, "vocab": {"<unk>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "bc": 5, "abc": 6, " ": 7, "d": 8, " a": 9, " ab": 10, "<0x7A>": 11, "<0xC3>": 12, "<0xA9>": 13, "cd": 14, "é": 15, "abcd": 16}, "merges": ["#version: 0.2", "a b", "b c", "ab c", "c d", "ab cd"]}})json";
constexpr const char* kBpeByteFallback =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null, "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": true, "ignore_merges": false, "vocab": {"<unk>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "bc": 5, "abc": 6, " ": 7, "d": 8, " a": 9, " ab": 10, "<0x7A>": 11, "<0xC3>": 12, "<0xA9>": 13, "cd": 14, "é": 15, "abcd": 16}, "merges": ["#version: 0.2", "a b", "b c", "ab c", "c d", "ab cd"]}})json";
constexpr const char* kBpeIgnoreMerges =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null, "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": true, "vocab": {"<unk>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "bc": 5, "abc": 6, " ": 7, "d": 8, " a": 9, " ab": 10, "<0x7A>": 11, "<0xC3>": 12, "<0xA9>": 13, "cd": 14, "é": 15, "abcd": 16}, "merges": ["#version: 0.2", "a b", "b c", "ab c", "c d", "ab cd"]}})json";
constexpr const char* kBpePrefixSuffix =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null, "model": {"type": "BPE", "unk_token": "<unk>", "continuing_subword_prefix": "##", "end_of_word_suffix": "</w>", "fuse_unk": false, "byte_fallback": false, "vocab": {"<unk>": 0, "a": 1, "##b": 2, "##c</w>": 3, "a##b": 4, "##b##c</w>": 5, "ab": 6, "##bc</w>": 7, "c</w>": 8, "b": 9, "a</w>": 10}, "merges": ["a ##b", "##b ##c</w>"]}})json";

TEST(Bpe, MergesByRankWithStringMerges) {
  const Tokenizer tokenizer = Tokenizer::from_json(kBpe, "MergesByRankWithStringMerges.json");
  expect_encodes(tokenizer,
                 {
                     {"abc", {6}, {{0, 3}}, {0}},
                     {"abcd", {6, 8}, {{0, 3}, {3, 4}}, {0, 0}},
                     {"ab ab", {4, 7, 4}, {{0, 2}, {2, 3}, {3, 5}}, {0, 0, 0}},
                     {" abc", {7, 6}, {{0, 1}, {1, 4}}, {0, 0}},
                     {"xxab", {0, 0, 4}, {{0, 1}, {1, 2}, {2, 4}}, {0, 0, 0}},
                     {"\xC3"
                      "\xA9"
                      "bcd",
                      {15, 5, 8},
                      {{0, 2}, {2, 4}, {4, 5}},
                      {0, 0, 0}},
                     {"zq", {0, 0}, {{0, 1}, {1, 2}}, {0, 0}},
                     {"bcbc", {5, 5}, {{0, 2}, {2, 4}}, {0, 0}},
                     {"abcabcd", {6, 6, 8}, {{0, 3}, {3, 6}, {6, 7}}, {0, 0, 0}},
                 },
                 true);
}

TEST(Bpe, ArrayMerges) {
  const Tokenizer tokenizer = Tokenizer::from_json(kBpeArrayMerges, "ArrayMerges.json");
  expect_encodes(tokenizer,
                 {
                     {"abc", {6}, {{0, 3}}, {0}},
                     {"abcd", {6, 8}, {{0, 3}, {3, 4}}, {0, 0}},
                     {"ab ab", {4, 7, 4}, {{0, 2}, {2, 3}, {3, 5}}, {0, 0, 0}},
                     {" abc", {7, 6}, {{0, 1}, {1, 4}}, {0, 0}},
                     {"xxab", {0, 0, 4}, {{0, 1}, {1, 2}, {2, 4}}, {0, 0, 0}},
                     {"\xC3"
                      "\xA9"
                      "bcd",
                      {15, 5, 8},
                      {{0, 2}, {2, 4}, {4, 5}},
                      {0, 0, 0}},
                     {"zq", {0, 0}, {{0, 1}, {1, 2}}, {0, 0}},
                     {"bcbc", {5, 5}, {{0, 2}, {2, 4}}, {0, 0}},
                     {"abcabcd", {6, 6, 8}, {{0, 3}, {3, 6}, {6, 7}}, {0, 0, 0}},
                 },
                 true);
}

TEST(Bpe, FusedUnknowns) {
  const Tokenizer tokenizer = Tokenizer::from_json(kBpeFuseUnk, "FusedUnknowns.json");
  expect_encodes(tokenizer,
                 {
                     {"abc", {6}, {{0, 3}}, {0}},
                     {"abcd", {6, 8}, {{0, 3}, {3, 4}}, {0, 0}},
                     {"ab ab", {4, 7, 4}, {{0, 2}, {2, 3}, {3, 5}}, {0, 0, 0}},
                     {" abc", {7, 6}, {{0, 1}, {1, 4}}, {0, 0}},
                     {"xxab", {0, 4}, {{0, 2}, {2, 4}}, {0, 0}},
                     {"\xC3"
                      "\xA9"
                      "bcd",
                      {15, 5, 8},
                      {{0, 2}, {2, 4}, {4, 5}},
                      {0, 0, 0}},
                     {"zq", {0}, {{0, 2}}, {0}},
                     {"bcbc", {5, 5}, {{0, 2}, {2, 4}}, {0, 0}},
                     {"abcabcd", {6, 6, 8}, {{0, 3}, {3, 6}, {6, 7}}, {0, 0, 0}},
                 },
                 true);
}

TEST(Bpe, ByteFallback) {
  const Tokenizer tokenizer = Tokenizer::from_json(kBpeByteFallback, "ByteFallback.json");
  expect_encodes(tokenizer,
                 {
                     {"abc", {6}, {{0, 3}}, {0}},
                     {"abcd", {6, 8}, {{0, 3}, {3, 4}}, {0, 0}},
                     {"ab ab", {4, 7, 4}, {{0, 2}, {2, 3}, {3, 5}}, {0, 0, 0}},
                     {" abc", {7, 6}, {{0, 1}, {1, 4}}, {0, 0}},
                     {"xxab", {0, 0, 4}, {{0, 1}, {1, 2}, {2, 4}}, {0, 0, 0}},
                     {"\xC3"
                      "\xA9"
                      "bcd",
                      {15, 5, 8},
                      {{0, 2}, {2, 4}, {4, 5}},
                      {0, 0, 0}},
                     {"zq", {11, 0}, {{0, 1}, {1, 2}}, {0, 0}},
                     {"bcbc", {5, 5}, {{0, 2}, {2, 4}}, {0, 0}},
                     {"abcabcd", {6, 6, 8}, {{0, 3}, {3, 6}, {6, 7}}, {0, 0, 0}},
                 },
                 true);
}

TEST(Bpe, IgnoreMergesTakesWholeWords) {
  const Tokenizer tokenizer =
      Tokenizer::from_json(kBpeIgnoreMerges, "IgnoreMergesTakesWholeWords.json");
  expect_encodes(tokenizer,
                 {
                     {"abcd", {16}, {{0, 4}}, {0}},
                     {"abc", {6}, {{0, 3}}, {0}},
                     {"cd", {14}, {{0, 2}}, {0}},
                 },
                 true);
}

TEST(Bpe, ContinuingPrefixAndEndOfWordSuffix) {
  const Tokenizer tokenizer =
      Tokenizer::from_json(kBpePrefixSuffix, "ContinuingPrefixAndEndOfWordSuffix.json");
  expect_encodes(tokenizer,
                 {
                     {"abc", {6, 3}, {{0, 2}, {2, 3}}, {0, 0}},
                     {"a", {10}, {{0, 1}}, {0}},
                     {"ab", {1, 0}, {{0, 1}, {1, 2}}, {0, 0}},
                     {"c", {8}, {{0, 1}}, {0}},
                     {"bc", {9, 3}, {{0, 1}, {1, 2}}, {0, 0}},
                 },
                 true);
}

}  // namespace
}  // namespace embedrt::tokenizer
