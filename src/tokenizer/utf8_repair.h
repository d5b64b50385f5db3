// Replacement of invalid UTF-8 exactly as Python's bytes.decode("utf-8", errors="replace"): each
// maximal subpart of an ill-formed sequence (Unicode 15, section 3.9) becomes one U+FFFD.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tokenizer/normalized_string.h"

namespace embedrt::tokenizer {

// Length of the well-formed character at s[i] (1 to 4), or 0 when s[i] starts an ill-formed
// sequence; then `*invalid_length` receives the length of its maximal subpart (at least 1).
size_t utf8_char_at(std::string_view s, size_t i, size_t* invalid_length) noexcept;

// True when `s` is entirely well-formed UTF-8.
bool is_valid_utf8(std::string_view s) noexcept;

// `s` with every maximal invalid subpart replaced by U+FFFD; `replaced` counts them.
std::string replace_invalid_utf8(std::string_view s, uint32_t* replaced = nullptr);

// The same text as a NormalizedString whose origins are byte ranges of `s`: a replacement
// character maps to the invalid bytes it stands for.
NormalizedString normalized_from_bytes(std::string_view s, uint32_t* replaced = nullptr);

}  // namespace embedrt::tokenizer
