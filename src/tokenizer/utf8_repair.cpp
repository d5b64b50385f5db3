#include "tokenizer/utf8_repair.h"

namespace embedrt::tokenizer {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

bool in(unsigned char b, unsigned char lo, unsigned char hi) { return b >= lo && b <= hi; }

}  // namespace

size_t utf8_char_at(std::string_view s, size_t i, size_t* invalid_length) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  // Allowed range of the second byte and total length, per lead byte (Unicode Table 3-7).
  unsigned char lo = 0x80, hi = 0xBF;
  size_t length;
  if (in(b0, 0xC2, 0xDF)) {
    length = 2;
  } else if (b0 == 0xE0) {
    length = 3, lo = 0xA0;
  } else if (in(b0, 0xE1, 0xEC) || in(b0, 0xEE, 0xEF)) {
    length = 3;
  } else if (b0 == 0xED) {
    length = 3, hi = 0x9F;
  } else if (b0 == 0xF0) {
    length = 4, lo = 0x90;
  } else if (in(b0, 0xF1, 0xF3)) {
    length = 4;
  } else if (b0 == 0xF4) {
    length = 4, hi = 0x8F;
  } else {
    *invalid_length = 1;
    return 0;
  }
  for (size_t k = 1; k < length; ++k) {
    const bool ok =
        i + k < s.size() && (k == 1 ? in(static_cast<unsigned char>(s[i + k]), lo, hi)
                                    : in(static_cast<unsigned char>(s[i + k]), 0x80, 0xBF));
    if (!ok) {
      *invalid_length = k;
      return 0;
    }
  }
  return length;
}

bool is_valid_utf8(std::string_view s) noexcept {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    // ASCII runs dominate real text; skip them eight bytes at a time.
    while (i + 8 <= n) {
      uint64_t word;
      __builtin_memcpy(&word, s.data() + i, 8);
      if (word & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    size_t bad;
    const size_t length = utf8_char_at(s, i, &bad);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string replace_invalid_utf8(std::string_view s, uint32_t* replaced) {
  std::string out;
  out.reserve(s.size() + 8);
  uint32_t count = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t bad = 0;
    const size_t length = utf8_char_at(s, i, &bad);
    if (length > 0) {
      out.append(s.substr(i, length));
      i += length;
    } else {
      out.append(kReplacement);
      ++count;
      i += bad;
    }
  }
  if (replaced) *replaced = count;
  return out;
}

NormalizedString normalized_from_bytes(std::string_view s, uint32_t* replaced) {
  if (is_valid_utf8(s)) {
    if (replaced) *replaced = 0;
    return NormalizedString(s);
  }
  NormalizedString out;
  uint32_t count = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t bad = 0;
    const size_t length = utf8_char_at(s, i, &bad);
    const auto begin = static_cast<uint32_t>(i);
    if (length > 0) {
      i += length;
      out.append(s.substr(begin, length), ByteSpan{begin, static_cast<uint32_t>(i)});
    } else {
      i += bad;
      out.append(kReplacement, ByteSpan{begin, static_cast<uint32_t>(i)});
      ++count;
    }
  }
  if (replaced) *replaced = count;
  return out;
}

}  // namespace embedrt::tokenizer
