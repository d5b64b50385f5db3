#include "tokenizer/normalized_string.h"

#include <algorithm>
#include <cassert>

namespace embedrt::tokenizer {

char32_t decode_utf8(std::string_view s, size_t& i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  const size_t n = utf8_length(b0);
  char32_t cp = n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (size_t k = 1; k < n && i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  i += n;
  return cp;
}

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

NormalizedString::NormalizedString(std::string_view original, uint32_t base_offset)
    : text_(original), shift_(base_offset) {
  origin_.resize(text_.size());
  size_t i = 0;
  while (i < text_.size()) {
    const size_t n = std::min(utf8_length(static_cast<unsigned char>(text_[i])), text_.size() - i);
    const ByteSpan span{static_cast<uint32_t>(base_offset + i),
                        static_cast<uint32_t>(base_offset + i + n)};
    std::fill_n(origin_.begin() + static_cast<std::ptrdiff_t>(i), n, span);
    i += n;
  }
}

ByteSpan NormalizedString::original_span(size_t begin, size_t end) const {
  if (origin_.empty()) return {};
  if (begin >= end) {
    const uint32_t at = begin < origin_.size() ? origin_[begin].begin : origin_.back().end;
    return {at, at};
  }
  assert(end <= origin_.size());
  uint32_t lo = origin_[begin].begin;
  uint32_t hi = origin_[end - 1].end;
  // Characters can be reordered by normalization (canonical ordering of combining marks), so
  // the extremes are not always at the ends of the range.
  if (lo > hi) std::swap(lo, hi);
  return {lo, hi};
}

void NormalizedString::Emitter::emit(char32_t cp) {
  const size_t before = text_.size();
  append_utf8(cp, text_);
  origin_.insert(origin_.end(), text_.size() - before, current_);
}

void NormalizedString::replace_range(size_t begin, size_t end, std::string_view replacement) {
  const ByteSpan span = original_span(begin, end);
  text_.replace(begin, end - begin, replacement);
  origin_.erase(origin_.begin() + static_cast<std::ptrdiff_t>(begin),
                origin_.begin() + static_cast<std::ptrdiff_t>(end));
  origin_.insert(origin_.begin() + static_cast<std::ptrdiff_t>(begin), replacement.size(), span);
}

void NormalizedString::append(std::string_view utf8, ByteSpan origin) {
  text_.append(utf8);
  origin_.insert(origin_.end(), utf8.size(), origin);
}

void NormalizedString::prepend(std::string_view utf8) {
  const uint32_t at = origin_.empty() ? 0 : origin_.front().begin;
  text_.insert(0, utf8);
  origin_.insert(origin_.begin(), utf8.size(), ByteSpan{at, at});
}

NormalizedString NormalizedString::slice(size_t begin, size_t end) const {
  NormalizedString out;
  out.text_.assign(text_, begin, end - begin);
  out.origin_.assign(origin_.begin() + static_cast<std::ptrdiff_t>(begin),
                     origin_.begin() + static_cast<std::ptrdiff_t>(end));
  out.shift_ = begin < origin_.size() ? origin_[begin].begin
               : origin_.empty()      ? shift_
                                      : origin_.back().end;
  return out;
}

void NormalizedString::transform(std::span<const Change> changes, size_t initial_removed) {
  const size_t size = text_.size();
  // `read` is HF's `offset`: the byte of the current text where the next character to replace
  // starts.
  size_t read = 0;
  for (size_t k = 0; k < initial_removed && read < size; ++k) {
    read += utf8_length(static_cast<unsigned char>(text_[read]));
  }
  auto consume = [&] {
    if (read < size) read += utf8_length(static_cast<unsigned char>(text_[read]));
  };
  std::string text;
  std::vector<ByteSpan> origin;
  text.reserve(size + changes.size());
  origin.reserve(size + changes.size());
  const ByteSpan at_start{shift_, shift_};
  for (const Change& c : changes) {
    if (c.change == 0 && c.cp < 0x80 && read < size) {
      // The common case: one character replacing one, spelled in a single byte.
      origin.push_back(origin_[read]);
      text.push_back(static_cast<char>(c.cp));
      read += utf8_length(static_cast<unsigned char>(text_[read]));
      continue;
    }
    ByteSpan align;
    if (c.change > 0) {
      align = read == 0 ? at_start : origin_[std::min(read, size) - 1];
    } else {
      // HF indexes past the end only in cases where it panics; keep the last origin instead.
      align = read < size ? origin_[read] : (size == 0 ? at_start : origin_[size - 1]);
      consume();
      for (int32_t k = 0; k < -c.change; ++k) consume();
    }
    const size_t before = text.size();
    append_utf8(c.cp, text);
    origin.insert(origin.end(), text.size() - before, align);
  }
  text_ = std::move(text);
  origin_ = std::move(origin);
}

void NormalizedString::assign(std::string text, std::vector<ByteSpan> origins) {
  assert(text.size() == origins.size());
  text_ = std::move(text);
  origin_ = std::move(origins);
}

}  // namespace embedrt::tokenizer
