#include <gtest/gtest.h>

#include <string>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8_repair.h"

namespace embedrt::tokenizer {
namespace {

struct Case {
  std::string bytes;
  std::string python;  // bytes.decode("utf-8", errors="replace").encode("utf-8"), Python 3.12
  uint32_t replaced;
};

// Maximal-subpart cases: truncated sequences, surrogates, overlongs, out-of-range code points,
// bytes that can never start a sequence, and mixtures.
const std::vector<Case>& cases() {
  static const std::vector<Case> list = {
      {std::string("abc", 3), "abc", 0},
      {std::string("\xFF"
                   "",
                   1),
       "\xEF"
       "\xBF"
       "\xBD"
       "",
       1},
      {std::string("a\x80"
                   "b",
                   3),
       "a\xEF"
       "\xBF"
       "\xBD"
       "b",
       1},
      {std::string("\xC3"
                   "",
                   1),
       "\xEF"
       "\xBF"
       "\xBD"
       "",
       1},
      {std::string("\xC3"
                   "\xA9"
                   "",
                   2),
       "\xC3"
       "\xA9"
       "",
       0},
      {std::string("\xE2"
                   "\x82"
                   "",
                   2),
       "\xEF"
       "\xBF"
       "\xBD"
       "",
       1},
      {std::string("\xE2"
                   "\x82"
                   "\xAC"
                   "",
                   3),
       "\xE2"
       "\x82"
       "\xAC"
       "",
       0},
      {std::string("\xE2"
                   "\x82"
                   "x",
                   3),
       "\xEF"
       "\xBF"
       "\xBD"
       "x",
       1},
      {std::string("\xED"
                   "\xA0"
                   "\x80"
                   "",
                   3),
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "",
       3},
      {std::string("\xF0"
                   "\x9F"
                   "\x98"
                   "",
                   3),
       "\xEF"
       "\xBF"
       "\xBD"
       "",
       1},
      {std::string("\xF0"
                   "\x9F"
                   "\x98"
                   "\x80"
                   "",
                   4),
       "\xF0"
       "\x9F"
       "\x98"
       "\x80"
       "",
       0},
      {std::string("\xF4"
                   "\x90"
                   "\x80"
                   "\x80"
                   "",
                   4),
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "",
       4},
      {std::string("\xC0"
                   "\xAF"
                   "",
                   2),
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "",
       2},
      {std::string("\xE0"
                   "\x80"
                   "\xAF"
                   "",
                   3),
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "",
       3},
      {std::string("\xF8"
                   "\x88"
                   "\x80"
                   "\x80"
                   "\x80"
                   "",
                   5),
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "",
       5},
      {std::string("\xF0"
                   "\x80"
                   "\x80"
                   "",
                   3),
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "",
       3},
      {std::string("\xF1"
                   "\x80"
                   "\x80"
                   "\xE1"
                   "\x80"
                   "\xC2"
                   "",
                   6),
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "",
       3},
      {std::string("\xE1"
                   "\x80"
                   "\xE2"
                   "\xF0"
                   "\x91"
                   "\x92"
                   "\xF1"
                   "\xBF"
                   "A",
                   9),
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "\xEF"
       "\xBF"
       "\xBD"
       "A",
       4},
      {std::string("\xEF"
                   "\xBF"
                   "\xBD"
                   "",
                   3),
       "\xEF"
       "\xBF"
       "\xBD"
       "",
       0},
      {std::string("x\xF5"
                   "y",
                   3),
       "x\xEF"
       "\xBF"
       "\xBD"
       "y",
       1},
  };
  return list;
}

TEST(Utf8Replacement, MatchesPythonDecodeWithReplace) {
  for (const Case& c : cases()) {
    uint32_t replaced = 99;
    EXPECT_EQ(replace_invalid_utf8(c.bytes, &replaced), c.python)
        << ::testing::PrintToString(c.bytes);
    EXPECT_EQ(replaced, c.replaced) << ::testing::PrintToString(c.bytes);
    EXPECT_EQ(is_valid_utf8(c.bytes), c.replaced == 0);
  }
}

TEST(Utf8Replacement, NormalizedStringMapsReplacementsToTheInvalidBytes) {
  const std::string bytes("a\xE2\x82x\xFF", 5);
  uint32_t replaced = 0;
  const NormalizedString s = normalized_from_bytes(bytes, &replaced);
  EXPECT_EQ(replaced, 2u);
  EXPECT_EQ(s.text(), "a\xEF\xBF\xBDx\xEF\xBF\xBD");
  EXPECT_EQ(s.original_span(1, 4), (ByteSpan{1, 3}));  // U+FFFD for E2 82
  EXPECT_EQ(s.original_span(4, 5), (ByteSpan{3, 4}));  // x
  EXPECT_EQ(s.original_span(5, 8), (ByteSpan{4, 5}));  // U+FFFD for FF
}

// A WordPiece vocabulary that knows U+FFFD: the ids match HF on the Python-decoded text and the
// offsets point at the invalid bytes of the caller's text.
TEST(Utf8Replacement, TokenizerEncodesReplacementCharacters) {
  const Tokenizer tokenizer = Tokenizer::from_json(
      R"json({"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
          "max_input_chars_per_word": 100,
          "vocab": {"[UNK]": 0, "a": 1, "\ufffd": 2, "##\ufffd": 3, "##x": 4}}})json",
      "replacement.json");
  const Encoding e = tokenizer.encode(std::string("a\xE2\x82x\xFF", 5));
  EXPECT_EQ(e.ids, (std::vector<int32_t>{1, 3, 4, 3}));
  EXPECT_EQ(e.offsets, (std::vector<ByteSpan>{{0, 1}, {1, 3}, {3, 4}, {4, 5}}));
  EXPECT_EQ(e.replaced_invalid_utf8, 2u);
  EXPECT_EQ(tokenizer.encode("a").replaced_invalid_utf8, 0u);
}

}  // namespace
}  // namespace embedrt::tokenizer
