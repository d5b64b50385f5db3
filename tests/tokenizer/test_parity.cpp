// Token ids and byte offsets against HF tokenizers over the generated multilingual corpus:
// test-data/tokenizer-parity/<name>.jsonl holds HF's encoding of every text (special tokens
// added, no truncation) for test-data/tokenizers/<name>/tokenizer.json, and
// <name>.truncated.jsonl the same with right truncation to 32 tokens.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"

namespace embedrt::tokenizer {
namespace {

namespace fs = std::filesystem;

constexpr size_t kTruncatedLength = 32;
constexpr int kMismatchesShown = 5;

struct Reference {
  std::string text;
  std::vector<int32_t> ids;
  std::vector<ByteSpan> offsets;
};

std::vector<Reference> read_references(const fs::path& path) {
  std::ifstream in(path);
  std::vector<Reference> refs;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto row = nlohmann::json::parse(line);
    Reference r;
    r.text = row.at("text").get<std::string>();
    r.ids = row.at("ids").get<std::vector<int32_t>>();
    for (const auto& o : row.at("offsets")) {
      r.offsets.push_back(ByteSpan{o.at(0).get<uint32_t>(), o.at(1).get<uint32_t>()});
    }
    refs.push_back(std::move(r));
  }
  return refs;
}

std::string describe_tokens(const Tokenizer& tokenizer, const std::vector<int32_t>& ids,
                            const std::vector<ByteSpan>& offsets, size_t from, size_t to) {
  std::ostringstream out;
  for (size_t i = from; i < std::min(to, ids.size()); ++i) {
    out << " " << ids[i] << ":'" << tokenizer.id_to_token(ids[i]).value_or("?") << "'";
    if (i < offsets.size()) out << "[" << offsets[i].begin << "," << offsets[i].end << ")";
  }
  return out.str();
}

// Compares one fixture file; returns (texts, id mismatches, offset-only mismatches).
void check_fixture(const fs::path& fixture, const fs::path& tokenizer_json, size_t truncation) {
  Tokenizer tokenizer = Tokenizer::from_file(tokenizer_json);
  tokenizer.set_truncation({truncation, TruncationSide::kRight});
  const std::vector<Reference> refs = read_references(fixture);
  std::vector<std::string_view> texts;
  for (const Reference& r : refs) texts.push_back(r.text);
  const std::vector<Encoding> encodings = tokenizer.encode_batch(texts, true, 0);

  size_t id_mismatches = 0, offset_mismatches = 0;
  int shown = 0;
  for (size_t i = 0; i < refs.size(); ++i) {
    const Reference& ref = refs[i];
    const Encoding& got = encodings[i];
    const bool ids_equal = got.ids == ref.ids;
    const bool offsets_equal = got.offsets == ref.offsets;
    if (ids_equal && offsets_equal) continue;
    ++(ids_equal ? offset_mismatches : id_mismatches);
    if (shown++ >= kMismatchesShown) continue;
    size_t at = 0;
    while (at < std::min(got.ids.size(), ref.ids.size()) && got.ids[at] == ref.ids[at] &&
           got.offsets[at] == ref.offsets[at]) {
      ++at;
    }
    const size_t from = at >= 3 ? at - 3 : 0;
    std::cout << "  " << fixture.filename().string() << " line " << i + 1 << " ("
              << (ids_equal ? "offsets" : "ids") << " differ at token " << at << " of "
              << ref.ids.size() << "): " << nlohmann::json(ref.text).dump() << "\n"
              << "    HF     :" << describe_tokens(tokenizer, ref.ids, ref.offsets, from, at + 4)
              << "\n"
              << "    embedrt:" << describe_tokens(tokenizer, got.ids, got.offsets, from, at + 4)
              << "\n";
  }
  std::cout << fixture.filename().string() << ": " << refs.size() << " texts, " << id_mismatches
            << " id mismatches, " << offset_mismatches << " offset-only mismatches\n";
  EXPECT_GT(refs.size(), 0u) << fixture;
  EXPECT_EQ(id_mismatches, 0u) << fixture;
  EXPECT_EQ(offset_mismatches, 0u) << fixture;
}

void check_all(bool truncated) {
  const fs::path dir = embedrt::testing::test_data_dir() / "tokenizer-parity";
  EMBEDRT_REQUIRE_FIXTURE(dir);
  const std::string suffix = truncated ? ".truncated.jsonl" : ".jsonl";
  std::vector<fs::path> fixtures;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    if (file.size() <= suffix.size() || !file.ends_with(suffix)) continue;
    if (!truncated && file.ends_with(".truncated.jsonl")) continue;
    const std::string name = file.substr(0, file.size() - suffix.size());
    const fs::path tokenizer_json =
        embedrt::testing::test_data_dir() / "tokenizers" / name / "tokenizer.json";
    if (fs::exists(tokenizer_json)) fixtures.push_back(entry.path());
  }
  ASSERT_FALSE(fixtures.empty()) << "no <name>" << suffix << " fixture with a tokenizer in " << dir;
  std::sort(fixtures.begin(), fixtures.end());
  for (const fs::path& fixture : fixtures) {
    const std::string file = fixture.filename().string();
    const std::string name = file.substr(0, file.size() - suffix.size());
    SCOPED_TRACE(name);
    check_fixture(fixture,
                  embedrt::testing::test_data_dir() / "tokenizers" / name / "tokenizer.json",
                  truncated ? kTruncatedLength : 0);
  }
}

TEST(TokenizerParity, IdsAndOffsetsMatchHuggingFace) { check_all(false); }

TEST(TokenizerParity, TruncatedToThirtyTwoTokens) { check_all(true); }

}  // namespace
}  // namespace embedrt::tokenizer
