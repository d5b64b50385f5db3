// Helpers for tokenizer tests: a tokenizer from inline JSON and comparison of an encoding with
// reference ids, offsets and type ids produced by HF tokenizers.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace embedrt::tokenizer::testing {

struct Expected {
  std::string text;
  std::vector<int32_t> ids;
  std::vector<std::pair<uint32_t, uint32_t>> offsets;
  std::vector<int32_t> type_ids;
};

inline void expect_encodes(const Tokenizer& tokenizer, const std::vector<Expected>& cases,
                           bool add_special_tokens = true) {
  for (const Expected& c : cases) {
    SCOPED_TRACE("text: \"" + c.text + "\"");
    const Encoding e = tokenizer.encode(c.text, add_special_tokens);
    EXPECT_EQ(e.ids, c.ids);
    std::vector<std::pair<uint32_t, uint32_t>> offsets;
    for (const ByteSpan& s : e.offsets) offsets.emplace_back(s.begin, s.end);
    EXPECT_EQ(offsets, c.offsets);
    EXPECT_EQ(e.type_ids, c.type_ids);
    EXPECT_EQ(e.special_tokens_mask.size(), e.ids.size());
  }
}

}  // namespace embedrt::tokenizer::testing
