// UTF-8 text under transformation that remembers where every byte came from.
//
// Normalizers and pre-tokenizers rewrite text (lowercasing, accent stripping, byte-to-unicode
// mapping, ...) while token offsets must still point into the caller's original bytes. Each byte of
// the current text carries the original byte range of the character it was produced from, the way
// HF tokenizers' NormalizedString keeps its alignments.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "embedrt/encoding.h"

namespace embedrt::tokenizer {

class NormalizedString {
 public:
  NormalizedString() = default;
  // `original` must be valid UTF-8. Origins are `base_offset` + byte position in `original`.
  explicit NormalizedString(std::string_view original, uint32_t base_offset = 0);

  // Original byte where this string starts (HF's original_shift): `base_offset` for a whole text,
  // the origin of the first byte for a slice. Normalizing never changes it. A character inserted
  // before everything else takes the empty origin here, and Metaspace's "first" prepend scheme
  // asks whether it is 0.
  uint32_t original_shift() const noexcept { return shift_; }
  void set_original_shift(uint32_t shift) noexcept { shift_ = shift; }

  const std::string& text() const noexcept { return text_; }
  bool empty() const noexcept { return text_.empty(); }
  size_t size() const noexcept { return text_.size(); }

  // Original byte range covered by the current bytes [begin, end). An empty range maps to the
  // position of the original byte at `begin` (or the end of the last one).
  ByteSpan original_span(size_t begin, size_t end) const;
  // Original byte range of the whole string.
  ByteSpan original_span() const { return original_span(0, text_.size()); }

  // Rewrites the string one character at a time. `fn(char32_t c, Emitter& out)` calls
  // `out.emit(cp)` zero or more times; every emitted character inherits the origin of `c`.
  class Emitter {
   public:
    void emit(char32_t cp);

   private:
    friend class NormalizedString;
    Emitter(std::string& text, std::vector<ByteSpan>& origin) : text_(text), origin_(origin) {}
    std::string& text_;
    std::vector<ByteSpan>& origin_;
    ByteSpan current_{};
  };
  template <typename Fn>
  void map_chars(Fn&& fn);

  // Replaces the characters in the byte range [begin, end) of the current text, which must lie on
  // character boundaries, by `replacement`; every new byte gets the origin of the whole range.
  // Used by normalizers that work on runs of characters (Unicode normalization forms, Replace).
  void replace_range(size_t begin, size_t end, std::string_view replacement);

  // Builds the string from pieces produced elsewhere: appends `utf8` with every byte mapped to
  // `origin`.
  void append(std::string_view utf8, ByteSpan origin);

  // Inserts `utf8` before the first character; new bytes get an empty origin at the start.
  void prepend(std::string_view utf8);

  // Copy of the bytes [begin, end) with their origins; the range must lie on character boundaries.
  NormalizedString slice(size_t begin, size_t end) const;

  // Original byte range of every byte of the current text.
  const std::vector<ByteSpan>& origins() const noexcept { return origin_; }
  // One character of a rewritten string and how it relates to the current characters, as in HF's
  // NormalizedString::transform: `change` 0 replaces the next current character, -N replaces it
  // and drops the N after it, and a positive value inserts a character.
  struct Change {
    char32_t cp;
    int32_t change;
  };
  // Rewrites the whole string from `changes` after dropping its first `initial_removed`
  // characters. Origins follow HF exactly: a replacing character takes the origin of the current
  // character at the read position, an inserted one that of the byte before it (or the empty
  // origin at original_shift() at the very start). The read position advances by the size of
  // each consumed character, so changes that do not account for every character (HF's
  // Precompiled normalizer) shift later origins the same way HF does.
  void transform(std::span<const Change> changes, size_t initial_removed);

  // Replaces text and origins wholesale (one origin per byte), for components that rebuild the
  // string in their own buffers.
  void assign(std::string text, std::vector<ByteSpan> origins);
  // Writable bytes for rewrites that keep every character's byte length (ASCII case mapping), so
  // origins stay valid without being touched.
  std::span<char> mutable_bytes() noexcept { return {text_.data(), text_.size()}; }

 private:
  std::string text_;
  std::vector<ByteSpan> origin_;  // one per byte of text_
  uint32_t shift_ = 0;
};

// Decodes one code point starting at `s[i]` (s must be valid UTF-8) and advances `i`.
char32_t decode_utf8(std::string_view s, size_t& i) noexcept;
// Appends the UTF-8 encoding of `cp` to `out`.
void append_utf8(char32_t cp, std::string& out);
// Byte length of the UTF-8 sequence whose lead byte is `lead`.
inline size_t utf8_length(unsigned char lead) noexcept {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

template <typename Fn>
void NormalizedString::map_chars(Fn&& fn) {
  std::string text;
  std::vector<ByteSpan> origin;
  text.reserve(text_.size());
  origin.reserve(origin_.size());
  Emitter out(text, origin);
  size_t i = 0;
  while (i < text_.size()) {
    const size_t start = i;
    const char32_t c = decode_utf8(text_, i);
    out.current_ = original_span(start, i);
    fn(c, out);
  }
  text_ = std::move(text);
  origin_ = std::move(origin);
}

}  // namespace embedrt::tokenizer
