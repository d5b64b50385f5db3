#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

// Expected values come from HF tokenizers 0.23 (Tokenizer.from_str on the same JSON, offsets
// converted from characters to bytes).
namespace embedrt::tokenizer {
namespace {

using testing::expect_encodes;
using testing::Expected;

constexpr const char* kRobertaTrim =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": true, "add_prefix_space": false}, "decoder": null, "model": {"type": "BPE", "unk_token": "<unk>", "vocab": {"<s>": 0, "<pad>": 1, "</s>": 2, " ": 3, "h": 4, "i": 5, " h": 6, " hi": 7, "hi": 8, "  ": 9, "<unk>": 10}, "merges": [[" ", "h"], [" h", "i"], ["h", "i"], [" ", " "]]}})json";
constexpr const char* kRobertaTrimPrefix =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": true, "add_prefix_space": true}, "decoder": null, "model": {"type": "BPE", "unk_token": "<unk>", "vocab": {"<s>": 0, "<pad>": 1, "</s>": 2, " ": 3, "h": 4, "i": 5, " h": 6, " hi": 7, "hi": 8, "  ": 9, "<unk>": 10}, "merges": [[" ", "h"], [" h", "i"], ["h", "i"], [" ", " "]]}})json";
constexpr const char* kRobertaNoTrim =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": false, "add_prefix_space": false}, "decoder": null, "model": {"type": "BPE", "unk_token": "<unk>", "vocab": {"<s>": 0, "<pad>": 1, "</s>": 2, " ": 3, "h": 4, "i": 5, " h": 6, " hi": 7, "hi": 8, "  ": 9, "<unk>": 10}, "merges": [[" ", "h"], [" h", "i"], ["h", "i"], [" ", " "]]}})json";
constexpr const char* kByteLevel =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}, "decoder": null, "model": {"type": "BPE", "unk_token": "<unk>", "vocab": {"<s>": 0, "<pad>": 1, "</s>": 2, " ": 3, "h": 4, "i": 5, " h": 6, " hi": 7, "hi": 8, "  ": 9, "<unk>": 10}, "merges": [[" ", "h"], [" h", "i"], ["h", "i"], [" ", " "]]}})json";
constexpr const char* kSequence =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": {"type": "Sequence", "processors": [{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}, {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}], "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}, "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}}]}, "decoder": null, "model": {"type": "BPE", "unk_token": "<unk>", "vocab": {"<s>": 0, "<pad>": 1, "</s>": 2, " ": 3, "h": 4, "i": 5, " h": 6, " hi": 7, "hi": 8, "  ": 9, "<unk>": 10}, "merges": [[" ", "h"], [" h", "i"], ["h", "i"], [" ", " "]]}})json";
constexpr const char* kTemplate =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 1}}, {"SpecialToken": {"id": "</s>", "type_id": 2}}], "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}, "</s>": {"id": "</s>", "ids": [2, 3], "tokens": ["</s>", "▁"]}}}, "decoder": null, "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["<s>", 0.0], ["</s>", 0.0], ["▁", -1.5], ["a", -2.0], ["b", -2.5], ["ab", -3.0], ["abc", -4.5], ["c", -3.2], ["bc", -2.9], ["é", -4.0], ["<0x78>", -9.0], ["<0x79>", -9.0], ["<0xC3>", -9.0], ["<0xBC>", -9.0], ["xy", -20.0]], "byte_fallback": false}})json";
constexpr const char* kBert =
    R"json({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]}, "decoder": null, "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 8, "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "un": 3, "##aff": 4, "##able": 5, "a": 6, "##b": 7, "é": 8, "##é": 9, "hello": 10, "##llo": 11, "he": 12, "h": 13, "##a": 14}}})json";

TEST(PostProcessors, RobertaTrimsSpacesFromOffsets) {
  const Tokenizer tokenizer =
      Tokenizer::from_json(kRobertaTrim, "RobertaTrimsSpacesFromOffsets.json");
  expect_encodes(
      tokenizer,
      {
          {" hi", {0, 7, 2}, {{0, 0}, {1, 3}, {0, 0}}, {0, 0, 0}},
          {"hi ", {0, 8, 3, 2}, {{0, 0}, {0, 2}, {3, 3}, {0, 0}}, {0, 0, 0, 0}},
          {"  hi  ", {0, 3, 7, 9, 2}, {{0, 0}, {1, 1}, {2, 4}, {6, 6}, {0, 0}}, {0, 0, 0, 0, 0}},
          {"h i", {0, 4, 3, 5, 2}, {{0, 0}, {0, 1}, {2, 2}, {2, 3}, {0, 0}}, {0, 0, 0, 0, 0}},
      },
      true);
}

TEST(PostProcessors, RobertaKeepsTheAddedPrefixSpace) {
  const Tokenizer tokenizer =
      Tokenizer::from_json(kRobertaTrimPrefix, "RobertaKeepsTheAddedPrefixSpace.json");
  expect_encodes(
      tokenizer,
      {
          {" hi", {0, 7, 2}, {{0, 0}, {0, 3}, {0, 0}}, {0, 0, 0}},
          {"hi ", {0, 8, 3, 2}, {{0, 0}, {0, 2}, {3, 3}, {0, 0}}, {0, 0, 0, 0}},
          {"  hi  ", {0, 3, 7, 9, 2}, {{0, 0}, {0, 0}, {2, 4}, {6, 6}, {0, 0}}, {0, 0, 0, 0, 0}},
          {"h i", {0, 4, 3, 5, 2}, {{0, 0}, {0, 1}, {2, 2}, {2, 3}, {0, 0}}, {0, 0, 0, 0, 0}},
      },
      true);
}

TEST(PostProcessors, RobertaWithoutTrimming) {
  const Tokenizer tokenizer = Tokenizer::from_json(kRobertaNoTrim, "RobertaWithoutTrimming.json");
  expect_encodes(
      tokenizer,
      {
          {" hi", {0, 7, 2}, {{0, 0}, {0, 3}, {0, 0}}, {0, 0, 0}},
          {"  hi  ", {0, 3, 7, 9, 2}, {{0, 0}, {0, 1}, {1, 4}, {4, 6}, {0, 0}}, {0, 0, 0, 0, 0}},
      },
      true);
}

TEST(PostProcessors, ByteLevelTrimsWithoutSpecialTokens) {
  const Tokenizer tokenizer =
      Tokenizer::from_json(kByteLevel, "ByteLevelTrimsWithoutSpecialTokens.json");
  expect_encodes(tokenizer,
                 {
                     {" hi", {7}, {{1, 3}}, {0}},
                     {"  hi  ", {3, 7, 9}, {{1, 1}, {2, 4}, {6, 6}}, {0, 0, 0}},
                 },
                 true);
}

TEST(PostProcessors, SequenceChainsByteLevelAndTemplate) {
  const Tokenizer tokenizer =
      Tokenizer::from_json(kSequence, "SequenceChainsByteLevelAndTemplate.json");
  expect_encodes(
      tokenizer,
      {
          {" hi", {0, 7, 2}, {{0, 0}, {1, 3}, {0, 0}}, {0, 0, 0}},
          {"  hi  ", {0, 3, 7, 9, 2}, {{0, 0}, {1, 1}, {2, 4}, {6, 6}, {0, 0}}, {0, 0, 0, 0, 0}},
      },
      true);
}

TEST(PostProcessors, CountsAddedTokensForTruncation) {
  EXPECT_EQ(Tokenizer::from_json(kTemplate, "t.json").special_tokens_added(), 3u);
  EXPECT_EQ(Tokenizer::from_json(kBert, "b.json").special_tokens_added(), 2u);
  EXPECT_EQ(Tokenizer::from_json(kRobertaTrim, "r.json").special_tokens_added(), 2u);
  EXPECT_EQ(Tokenizer::from_json(kByteLevel, "l.json").special_tokens_added(), 0u);
  EXPECT_EQ(Tokenizer::from_json(kSequence, "s.json").special_tokens_added(), 2u);
}

}  // namespace
}  // namespace embedrt::tokenizer
