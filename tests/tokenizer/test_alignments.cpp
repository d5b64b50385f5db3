// Byte origins of normalized text and token offsets in corner cases where HF tokenizers 0.23.3
// aligns characters by position rather than by identity: canonical reordering of combining marks,
// Precompiled rules that remove or expand characters (including removed leading characters, which
// HF never consumes), Metaspace's "first" prepend scheme after such removals, and offset trimming
// of added tokens that took in whitespace. Every expected value was produced by HF itself: the
// per-character origins by splitting the normalized text into single characters
// (PreTokenizedString.get_splits with byte offsets), the token offsets by Tokenizer.encode; the
// cases whose ids depend on a trained test vocabulary come from the fixture files.
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

// Reference encodings of one group of tokenizer-parity/alignment-cases.jsonl, written by
// scripts/make_tokenizer_fixtures.py with HF tokenizers: their ids depend on the vocabulary trained
// from the corpus, so they are made with the fixtures instead of being written here.
struct AlignmentCaseGroup {
  nlohmann::json tokenizer_json;  // the test tokenizer with the case's pre-tokenizer, if any
  std::vector<Expected> expected;
};

AlignmentCaseGroup alignment_cases(const std::string& name) {
  const auto path =
      embedrt::testing::test_data_dir() / "tokenizer-parity" / "alignment-cases.jsonl";
  std::ifstream file(path);
  AlignmentCaseGroup group;
  std::string line;
  while (std::getline(file, line)) {
    const nlohmann::json record = nlohmann::json::parse(line);
    if (record.at("case") != name) continue;
    if (group.tokenizer_json.is_null()) {
      group.tokenizer_json = read_json(tokenizer_path(record.at("tokenizer").get<std::string>()));
      if (!record.at("pre_tokenizer").is_null())
        group.tokenizer_json["pre_tokenizer"] = record.at("pre_tokenizer");
    }
    Expected e{record.at("text").get<std::string>(),
               record.at("ids").get<std::vector<int32_t>>(),
               {},
               record.at("type_ids").get<std::vector<int32_t>>()};
    for (const auto& span : record.at("offsets"))
      e.offsets.emplace_back(span.at(0).get<uint32_t>(), span.at(1).get<uint32_t>());
    group.expected.push_back(std::move(e));
  }
  return group;
}

void expect_alignment_cases(const std::string& name) {
  const auto path =
      embedrt::testing::test_data_dir() / "tokenizer-parity" / "alignment-cases.jsonl";
  EMBEDRT_REQUIRE_FIXTURE(path);
  const AlignmentCaseGroup group = alignment_cases(name);
  ASSERT_FALSE(group.expected.empty()) << "no case '" << name << "' in " << path;
  expect_encodes(Tokenizer::from_json(group.tokenizer_json.dump(), name + ".json"), group.expected);
}

// Metaspace's "first" prepend scheme prepends to the piece whose original_shift is 0, even when
// the unigram tokenizer's normalizer removed the leading characters; with a splitting
// pre-tokenizer before it, only the first word qualifies.
TEST(Alignments, MetaspaceFirstSchemeFollowsTheOriginalShift) {
  expect_alignment_cases("metaspace-first");
  expect_alignment_cases("metaspace-first-split");
}

// "<br>" is an added token with lstrip: its match takes in the whitespace before it, which the
// RobertaProcessing offset trimming removes again whatever kind of whitespace it is.
TEST(Alignments, TrimmedOffsetsOfAnLstripAddedTokenSkipAnyWhitespace) {
  expect_alignment_cases("lstrip-added-token");
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
