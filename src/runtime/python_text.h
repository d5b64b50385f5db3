// String operations with Python's exact semantics, because sentence-transformers applies them to
// every text before tokenizing and a single differing character changes the embedding.
#pragma once

#include <string>
#include <string_view>

namespace embedrt::runtime {

// Python's str.isspace() for one code point.
bool is_python_whitespace(char32_t cp) noexcept;

// str.strip(): removes leading and trailing Python whitespace. `text` must be valid UTF-8.
std::string_view python_strip(std::string_view text) noexcept;

// str.lower(): full Unicode lowercase mapping including U+0130 -> "i̇" and the final-sigma rule.
std::string python_lower(std::string_view text);

}  // namespace embedrt::runtime
