// Byte origins of normalized text and token offsets in corner cases where HF tokenizers 0.23.3
// aligns characters by position rather than by identity: canonical reordering of combining marks,
// Precompiled rules that remove or expand characters (including removed leading characters, which
// HF never consumes), Metaspace's "first" prepend scheme after such removals, and offset trimming
// of added tokens that took in whitespace. Every expected value was produced by HF itself: the
// per-character origins by splitting the normalized text into single characters
// (PreTokenizedString.get_splits with byte offsets), the token offsets by Tokenizer.encode.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "support/test_paths.h"
#include "tokenizer/components.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace embedrt::tokenizer {
namespace {

using namespace std::string_literals;
using testing::expect_encodes;
using testing::Expected;

struct CharOrigin {
  std::string ch;
  uint32_t begin;
  uint32_t end;
  bool operator==(const CharOrigin&) const = default;
};

std::ostream& operator<<(std::ostream& out, const CharOrigin& c) {
  return out << "'" << c.ch << "'[" << c.begin << "," << c.end << ")";
}

struct AlignmentCase {
  std::string input;
  std::vector<CharOrigin> expected;
};

std::vector<CharOrigin> char_origins(const NormalizedString& text) {
  std::vector<CharOrigin> out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = i;
    decode_utf8(text.text(), i);
    const ByteSpan origin = text.origins()[start];
    out.push_back({text.text().substr(start, i - start), origin.begin, origin.end});
  }
  return out;
}

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream file(path);
  return nlohmann::json::parse(file);
}

std::filesystem::path tokenizer_path(const std::string& name) {
  return embedrt::testing::test_data_dir() / "tokenizers" / name / "tokenizer.json";
}

TEST(Alignments, NormalizersAlignReorderedAndRecomposedCharactersLikeHuggingFace) {
  struct ConfigCase {
    std::string config;
    std::string input;
    std::vector<CharOrigin> expected;
  };
  const ConfigCase cases[] = {
      {R"({"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true})",
       "ab\315\243\360\235\205\245"s,
       {{"a"s, 0, 1}, {"b"s, 1, 2}, {"\360\235\205\245"s, 2, 4}}},
      {R"({"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true})",
       "x\315\243\360\235\205\245y"s,
       {{"x"s, 0, 1}, {"\360\235\205\245"s, 1, 3}, {"y"s, 7, 8}}},
      {R"({"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true})",
       "x\303\251\314\243y"s,
       {{"x"s, 0, 1}, {"e"s, 1, 3}, {"y"s, 5, 6}}},
      {R"({"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true})",
       "a\314\201\001\314\243\360\235\205\245b"s,
       {{"a"s, 0, 1}, {"\360\235\205\245"s, 1, 3}, {"b"s, 10, 11}}},
      {R"({"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true})",
       "\315\243\360\235\205\245 z"s,
       {{"\360\235\205\245"s, 0, 2}, {" "s, 6, 7}, {"z"s, 7, 8}}},
      {R"({"type": "NFD"})",
       "x\303\251\314\243y"s,
       {{"x"s, 0, 1}, {"e"s, 1, 3}, {"\314\243"s, 3, 5}, {"\314\201"s, 3, 5}, {"y"s, 5, 6}}},
      {R"({"type": "NFD"})",
       "x\303\251\314\201y"s,
       {{"x"s, 0, 1}, {"e"s, 1, 3}, {"\314\201"s, 1, 3}, {"\314\201"s, 3, 5}, {"y"s, 5, 6}}},
      {R"({"type": "NFD"})",
       "x\315\243\360\235\205\245y"s,
       {{"x"s, 0, 1}, {"\360\235\205\245"s, 1, 3}, {"\315\243"s, 3, 7}, {"y"s, 7, 8}}},
      {R"({"type": "NFC"})",
       "xe\314\201\314\243y"s,
       {{"x"s, 0, 1}, {"\341\272\271"s, 1, 2}, {"\314\201"s, 4, 6}, {"y"s, 6, 7}}},
      {R"({"type": "NFKC"})",
       "x\357\254\201\314\201y"s,
       {{"x"s, 0, 1}, {"f"s, 1, 4}, {"\303\255"s, 4, 6}, {"y"s, 6, 7}}},
  };
  for (const ConfigCase& c : cases) {
    SCOPED_TRACE(c.config + " on \"" + c.input + "\"");
    const nlohmann::json json = nlohmann::json::parse(c.config);
    NormalizedString text(c.input);
    make_normalizer(JsonNode(json, "tokenizer.json", "$.normalizer"))->normalize(text);
    EXPECT_EQ(char_origins(text), c.expected);
  }
}

// The Sequence normalizer of test-data/tokenizers/unigram (Precompiled, Strip, Replace).
TEST(Alignments, PrecompiledRemovalsAndExpansionsAlignLikeHuggingFace) {
  const auto path = tokenizer_path("unigram");
  EMBEDRT_REQUIRE_FIXTURE(path);
  const nlohmann::json json = read_json(path);
  const auto normalizer = make_normalizer(JsonNode(json, path.string()).at("normalizer"));
  const AlignmentCase cases[] = {
      {"\036The"s, {{"T"s, 0, 1}, {"h"s, 1, 2}, {"e"s, 2, 3}}},
      {"ab\004in"s, {{"a"s, 0, 1}, {"b"s, 1, 2}, {"i"s, 3, 4}, {"n"s, 4, 5}}},
      {"\004x\004y"s, {{"x"s, 0, 1}, {"y"s, 2, 3}}},
      {"\004\357\254\201y"s, {{"f"s, 0, 1}, {"i"s, 0, 1}, {"y"s, 1, 4}}},
      {"x\357\254\201\004y"s, {{"x"s, 0, 1}, {"f"s, 1, 4}, {"i"s, 4, 5}, {"y"s, 5, 6}}},
      {"x\302\275\004\004y"s,
       {{"x"s, 0, 1}, {"1"s, 1, 3}, {"\342\201\204"s, 1, 3}, {"2"s, 3, 4}, {"y"s, 5, 6}}},
      {"x\342\222\210\336\256y"s, {{"x"s, 0, 1}, {"1"s, 1, 4}, {"."s, 4, 6}, {"y"s, 6, 7}}},
      {"x\342\222\210\336\256\336\256y"s,
       {{"x"s, 0, 1},
        {"1"s, 1, 4},
        {"."s, 1, 4},
        {"\336\256"s, 4, 6},
        {"\336\256"s, 6, 8},
        {"y"s, 8, 9}}},
      {"e\314\201x"s, {{"\303\251"s, 0, 1}, {"x"s, 3, 4}}},
  };
  for (const AlignmentCase& c : cases) {
    SCOPED_TRACE(c.input);
    NormalizedString text(c.input);
    normalizer->normalize(text);
    EXPECT_EQ(char_origins(text), c.expected);
  }
}

// "first" prepends to the piece whose original_shift is 0, even when the normalizer removed the
// leading characters; with a splitting pre-tokenizer before it, only the first word qualifies.
TEST(Alignments, MetaspaceFirstSchemeFollowsTheOriginalShift) {
  const auto path = tokenizer_path("unigram");
  EMBEDRT_REQUIRE_FIXTURE(path);
  nlohmann::json json = read_json(path);
  const nlohmann::json metaspace = {{"type", "Metaspace"},
                                    {"replacement", "\u2581"},
                                    {"prepend_scheme", "first"},
                                    {"split", true}};
  json["pre_tokenizer"] = metaspace;
  const std::vector<Expected> alone_cases = {
      {"\036The end"s, {0, 23, 1405, 2}, {{0, 0}, {0, 3}, {3, 7}, {0, 0}}, {0, 0, 0, 0}},
      {"\004\004Hi there"s,
       {0, 300, 51, 140, 2},
       {{0, 0}, {0, 1}, {1, 2}, {2, 8}, {0, 0}},
       {0, 0, 0, 0, 0}},
      {"Hi\004 there"s,
       {0, 300, 51, 140, 2},
       {{0, 0}, {0, 1}, {1, 2}, {3, 9}, {0, 0}},
       {0, 0, 0, 0, 0}},
  };
  expect_encodes(Tokenizer::from_json(json.dump(), "first.json"), alone_cases);
  json["pre_tokenizer"] = {{"type", "Sequence"},
                           {"pretokenizers", {{{"type", "WhitespaceSplit"}}, metaspace}}};
  const std::vector<Expected> split_cases = {
      {"\036The end"s,
       {0, 23, 19, 306, 2},
       {{0, 0}, {0, 3}, {4, 5}, {5, 7}, {0, 0}},
       {0, 0, 0, 0, 0}},
      {"Hi there"s,
       {0, 300, 51, 2271, 2},
       {{0, 0}, {0, 1}, {1, 2}, {3, 8}, {0, 0}},
       {0, 0, 0, 0, 0}},
  };
  expect_encodes(Tokenizer::from_json(json.dump(), "first-split.json"), split_cases);
}

// "<br>" is an added token with lstrip: its match takes in the whitespace before it, which the
// RobertaProcessing offset trimming removes again whatever kind of whitespace it is.
TEST(Alignments, TrimmedOffsetsOfAnLstripAddedTokenSkipAnyWhitespace) {
  const auto path = tokenizer_path("bpe");
  EMBEDRT_REQUIRE_FIXTURE(path);
  const std::vector<Expected> cases = {
      {"blast\011<br> SELECT"s,
       {0, 70, 3377, 8000, 7600, 2},
       {{0, 0}, {0, 1}, {1, 5}, {6, 10}, {11, 17}, {0, 0}},
       {0, 0, 0, 0, 0, 0}},
      {"x\343\200\200<br>"s, {0, 92, 8000, 2}, {{0, 0}, {0, 1}, {4, 8}, {0, 0}}, {0, 0, 0, 0}},
      {"a\011<br>\011b"s,
       {0, 69, 8000, 202, 70, 2},
       {{0, 0}, {0, 1}, {2, 6}, {6, 7}, {7, 8}, {0, 0}},
       {0, 0, 0, 0, 0, 0}},
  };
  expect_encodes(Tokenizer::from_file(path), cases);
}

// Words whose combining marks NFD reorders before BertNormalizer strips the nonspacing ones.
TEST(Alignments, BertNormalizerReorderedMarksGiveHuggingFaceOffsets) {
  const auto path = tokenizer_path("minilm");
  EMBEDRT_REQUIRE_FIXTURE(path);
  const std::vector<Expected> cases = {
      {"ab\315\243\360\235\205\245 cd"s,
       {101, 100, 3729, 102},
       {{0, 0}, {0, 4}, {9, 11}, {0, 0}},
       {0, 0, 0, 0}},
      {"and\314\264\314\241\360\235\205\245\315\243 white"s,
       {101, 100, 2317, 102},
       {{0, 0}, {0, 11}, {14, 19}, {0, 0}},
       {0, 0, 0, 0}},
  };
  expect_encodes(Tokenizer::from_file(path), cases);
}

}  // namespace
}  // namespace embedrt::tokenizer
