// Builds a replacement text for a NormalizedString together with the origin of every byte.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/normalized_string.h"

namespace embedrt::tokenizer {

class TextBuilder {
 public:
  explicit TextBuilder(size_t capacity) {
    text_.reserve(capacity);
    origins_.reserve(capacity);
  }
  void put(char32_t cp, ByteSpan origin) {
    const size_t before = text_.size();
    append_utf8(cp, text_);
    origins_.insert(origins_.end(), text_.size() - before, origin);
  }
  void put_byte(char byte, ByteSpan origin) {
    text_.push_back(byte);
    origins_.push_back(origin);
  }
  void put_bytes(std::string_view bytes, ByteSpan origin) {
    text_.append(bytes);
    origins_.insert(origins_.end(), bytes.size(), origin);
  }
  // Copies bytes [begin, end) of `source` with their own origins.
  void copy(const NormalizedString& source, size_t begin, size_t end) {
    text_.append(source.text(), begin, end - begin);
    origins_.insert(origins_.end(), source.origins().begin() + static_cast<std::ptrdiff_t>(begin),
                    source.origins().begin() + static_cast<std::ptrdiff_t>(end));
  }
  void commit(NormalizedString& target) { target.assign(std::move(text_), std::move(origins_)); }

 private:
  std::string text_;
  std::vector<ByteSpan> origins_;
};

// Original range of the character occupying bytes [begin, end) of `s`.
inline ByteSpan char_origin(const NormalizedString& s, size_t begin, size_t end) {
  return {s.origins()[begin].begin, s.origins()[end - 1].end};
}

// Writes the UTF-8 encoding of `cp` to `out` (room for 4 bytes); returns its length.
inline size_t encode_utf8(char32_t cp, char* out) noexcept {
  if (cp < 0x80) {
    out[0] = static_cast<char>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<char>(0xC0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (cp >> 12));
    out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<char>(0xF0 | (cp >> 18));
  out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<char>(0x80 | (cp & 0x3F));
  return 4;
}

// True when every byte of `text` is ASCII.
inline bool is_ascii(std::string_view text) noexcept {
  unsigned char any = 0;
  for (char c : text) any |= static_cast<unsigned char>(c);
  return any < 0x80;
}

// Inserts `prefix` before the first character, sharing that character's origin (HF's prepend,
// used by the Prepend normalizer and Metaspace); an empty string stays empty.
inline void prepend_to_first_char(NormalizedString& text, std::string_view prefix) {
  if (text.empty()) return;
  size_t first_end = 0;
  decode_utf8(text.text(), first_end);
  const ByteSpan origin = char_origin(text, 0, first_end);
  TextBuilder out(text.size() + prefix.size());
  out.put_bytes(prefix, origin);
  out.put_bytes(std::string_view(text.text()).substr(0, first_end), origin);
  out.copy(text, first_end, text.size());
  out.commit(text);
}

}  // namespace embedrt::tokenizer
