// Pairs (cross-encoder inputs) through every post-processor kind, against HF tokenizers: ids and
// type ids with and without special tokens, and longest_first truncation on both sides. The
// expectations come from tokenizer-parity/pair-cases.jsonl (scripts/make_tokenizer_fixtures.py).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "embedrt/error.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"

namespace embedrt::tokenizer {
namespace {

std::filesystem::path tokenizer_path(const std::string& name) {
  return embedrt::testing::test_data_dir() / "tokenizers" / name / "tokenizer.json";
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Pairs, MatchHuggingFaceForEveryPostProcessorAndTruncation) {
  const auto cases = embedrt::testing::test_data_dir() / "tokenizer-parity" / "pair-cases.jsonl";
  EMBEDRT_REQUIRE_FIXTURE(cases);
  std::ifstream in(cases);
  std::map<std::string, Tokenizer> tokenizers;  // by tokenizer name + post-processor
  std::string line;
  size_t checked = 0, failures = 0;
  std::map<std::string, int> failed_kinds;
  while (std::getline(in, line)) {
    const auto c = nlohmann::json::parse(line);
    const std::string name = c["tokenizer"];
    const std::string key = name + c["post_processor"].dump();
    auto it = tokenizers.find(key);
    if (it == tokenizers.end()) {
      auto config = nlohmann::json::parse(read_file(tokenizer_path(name)));
      if (!c["post_processor"].is_null()) config["post_processor"] = c["post_processor"];
      it = tokenizers.emplace(key, Tokenizer::from_json(config.dump(), key)).first;
    }
    const Truncation truncation{c["max_length"].get<size_t>(), c["side"] == "left"
                                                                   ? TruncationSide::kLeft
                                                                   : TruncationSide::kRight};
    const Tokenizer tokenizer = it->second.with_truncation(truncation);
    const Encoding e = tokenizer.encode_pair(c["a"].get<std::string>(), c["b"].get<std::string>(),
                                             c["add_special_tokens"].get<bool>());
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    const auto type_ids = c["type_ids"].get<std::vector<int32_t>>();
    ++checked;
    if (e.ids != ids || e.type_ids != type_ids) {
      failed_kinds[key + " special " + c["add_special_tokens"].dump() + " max_length " +
                   c["max_length"].dump()]++;
      if (++failures <= 5) {
        ADD_FAILURE() << key << " max_length " << c["max_length"] << " " << c["side"] << " special "
                      << c["add_special_tokens"] << "\n  a: " << c["a"] << "\n  b: " << c["b"]
                      << "\n  expected ids " << c["ids"] << " types " << c["type_ids"] << "\n  got "
                      << nlohmann::json(e.ids) << " types " << nlohmann::json(e.type_ids);
      }
    }
    EXPECT_EQ(e.ids.size(), e.offsets.size());
    EXPECT_EQ(e.ids.size(), e.special_tokens_mask.size());
  }
  for (const auto& [kind, count] : failed_kinds) ADD_FAILURE() << count << " failed: " << kind;
  EXPECT_EQ(failures, 0u) << "of " << checked << " pairs";
  EXPECT_GT(checked, 1000u);
}

TEST(Pairs, SpecialTokensOfAPairAreCounted) {
  const auto path = tokenizer_path("minilm");
  EMBEDRT_REQUIRE_FIXTURE(path);
  const Tokenizer t = Tokenizer::from_file(path);
  EXPECT_EQ(t.special_tokens_added_pair(), 3u);
  // A limit below the pair's specials is an error, not a silent overflow.
  const Tokenizer tight = t.with_truncation({2, TruncationSide::kRight});
  EXPECT_THROW(tight.encode_pair("a", "b"), Error);
}

}  // namespace
}  // namespace embedrt::tokenizer
