// Character classes and mappings exactly as Hugging Face tokenizers (v0.23) sees them.
//
// HF mixes several Unicode databases, so no single Unicode version reproduces it. The classes
// below are generated from HF itself (scripts/gen_unicode_tables.py -> unicode_tables.inc);
// utf8proc 2.8 (Unicode 15.0) is used only for the normalization forms and grapheme clusters.
// Differences found between HF's sources and Unicode 15:
// - BertNormalizer's is_control and is_mark_nonspacing and the punctuation test of
//   BertPreTokenizer/Punctuation come from the `unicode_categories` crate (Unicode 9 era tables):
//   marks and punctuation added later (e.g. U+1AC1, U+1E4EC, U+2E50) are not recognized, and
//   unassigned code points are not treated as control characters. The StripAccents normalizer
//   removes every combining mark (Mc and Me too, e.g. Devanagari U+093F), unlike BertNormalizer.
// - Lowercasing is Rust's char::to_lowercase (the Rust toolchain's Unicode, newer than 15),
//   applied per character: full mappings (U+0130 -> "i\u0307") and no final-sigma rule.
// - Whitespace, is_numeric: Rust std (White_Space and N* of the toolchain's Unicode).
// - Regex classes: Split/Replace patterns and ByteLevel's split run on Oniguruma, where \s is
//   White_Space (includes U+0085) and \w is Alphabetic | M | Nd | Pc plus U+00B2 U+00B3 U+00B9
//   U+00BC-U+00BE (not U+200D, not U+2155). The Whitespace pre-tokenizer runs on the Rust `regex`
//   crate, where \w is Alphabetic | M | Nd | Pc | Join_Control (U+00B2 is not a word character
//   there, U+200D is). PCRE2 10.42's UCP \w and \s differ from both (L | N | '_', and \h includes
//   U+180E), hence the generated tables and the rewriting in regex.cpp.
// - Normalization forms use the `unicode-normalization-alignments` crate, which predates Unicode
//   12: it has no combining class for later marks (U+0EBA, U+08CA-U+08E1, U+1ACA stay in place
//   under NFD) and no decompositions added later (U+11938). utf8proc 2.8 reorders and decomposes
//   those, so texts containing them can differ.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace embedrt::tokenizer::unicode {

struct CodepointRange {
  char32_t lo;
  char32_t hi;  // inclusive
};

struct LowercaseEntry {
  char32_t from;
  char32_t to[3];
  uint8_t length;
};

enum CharClass : uint16_t {
  kBertControl = 1 << 0,       // removed by BertNormalizer's clean_text
  kWhitespace = 1 << 1,        // Rust char::is_whitespace
  kNonspacingMark = 1 << 2,    // removed by BertNormalizer's strip_accents (after NFD)
  kPunctuation = 1 << 3,       // BertPreTokenizer / Punctuation split characters
  kNumeric = 1 << 4,           // Rust char::is_numeric
  kRegexWord = 1 << 5,         // Rust regex crate \w (Whitespace pre-tokenizer)
  kRegexSpace = 1 << 6,        // \s, White_Space (same in Oniguruma and the Rust regex crate)
  kRegexLetter = 1 << 7,       // Oniguruma \p{L}
  kRegexNumber = 1 << 8,       // Oniguruma \p{N}
  kStripAccentsMark = 1 << 9,  // removed by the StripAccents normalizer (Mn, Mc and Me)
};

// Bit set of CharClass values for a non-ASCII code point (two-stage table, built once).
uint16_t classes_of(char32_t c) noexcept;

// Classes of the 128 ASCII characters.
extern const std::array<uint16_t, 128> kAsciiClasses;

inline uint16_t classes(char32_t c) noexcept { return c < 0x80 ? kAsciiClasses[c] : classes_of(c); }
inline bool has(char32_t c, CharClass cls) noexcept { return (classes(c) & cls) != 0; }

// bert.rs is_chinese_char: the CJK ideograph blocks BertNormalizer pads with spaces.
constexpr bool is_chinese_char(char32_t c) noexcept {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Rust char::to_lowercase: writes 1 to 3 code points to `out`, returns how many.
size_t to_lowercase(char32_t c, char32_t out[3]) noexcept;

}  // namespace embedrt::tokenizer::unicode
