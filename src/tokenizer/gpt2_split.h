// Hand-written matcher for GPT-2's split pattern, with Oniguruma's character classes:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Equivalent to running that regex (tests check it against PCRE2 and HF), several times faster.
#pragma once

#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace embedrt::tokenizer {

inline constexpr std::string_view kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Appends every match in `text` (valid UTF-8), left to right; together they cover the text.
void gpt2_split(std::string_view text, std::vector<MatchSpan>& out);

}  // namespace embedrt::tokenizer
