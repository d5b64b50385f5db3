#include "runtime/python_text.h"

#include <utf8proc.h>

namespace embedrt::runtime {
namespace {

// Decodes one code point from valid UTF-8.
char32_t next_code_point(std::string_view s, size_t& i) noexcept {
  utf8proc_int32_t cp = 0;
  const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data()) + i,
                                  static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
  i += n > 0 ? static_cast<size_t>(n) : 1;
  return n > 0 ? static_cast<char32_t>(cp) : 0xFFFD;
}

size_t previous_start(std::string_view s, size_t end) noexcept {
  size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

void append_utf8(char32_t cp, std::string& out) {
  utf8proc_uint8_t buffer[4];
  const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buffer);
  out.append(reinterpret_cast<const char*>(buffer), static_cast<size_t>(n));
}

bool is_cased(char32_t cp) {
  const auto* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
  return p->category == UTF8PROC_CATEGORY_LU || p->category == UTF8PROC_CATEGORY_LL ||
         p->category == UTF8PROC_CATEGORY_LT || utf8proc_toupper(cp) != static_cast<int32_t>(cp) ||
         utf8proc_tolower(cp) != static_cast<int32_t>(cp);
}

bool is_case_ignorable(char32_t cp) {
  if (cp == '\'' || cp == 0x2E || cp == 0x3A || cp == 0xB7 || cp == 0x2019 || cp == 0x2027) {
    return true;
  }
  const auto category = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->category;
  return category == UTF8PROC_CATEGORY_MN || category == UTF8PROC_CATEGORY_ME ||
         category == UTF8PROC_CATEGORY_CF || category == UTF8PROC_CATEGORY_LM ||
         category == UTF8PROC_CATEGORY_SK;
}

// Unicode's Final_Sigma condition, as CPython evaluates it: a cased letter before (skipping
// case-ignorables) and none after.
bool is_final_sigma(std::string_view s, size_t sigma_begin, size_t sigma_end) {
  bool cased_before = false;
  for (size_t i = sigma_begin; i > 0;) {
    i = previous_start(s, i);
    size_t j = i;
    const char32_t cp = next_code_point(s, j);
    if (is_case_ignorable(cp)) continue;
    cased_before = is_cased(cp);
    break;
  }
  if (!cased_before) return false;
  for (size_t i = sigma_end; i < s.size();) {
    const char32_t cp = next_code_point(s, i);
    if (is_case_ignorable(cp)) continue;
    return !is_cased(cp);
  }
  return true;
}

}  // namespace

bool is_python_whitespace(char32_t cp) noexcept {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string_view python_strip(std::string_view text) noexcept {
  size_t begin = 0;
  while (begin < text.size()) {
    size_t next = begin;
    if (!is_python_whitespace(next_code_point(text, next))) break;
    begin = next;
  }
  size_t end = text.size();
  while (end > begin) {
    const size_t start = previous_start(text, end);
    size_t i = start;
    if (!is_python_whitespace(next_code_point(text, i))) break;
    end = start;
  }
  return text.substr(begin, end - begin);
}

std::string python_lower(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
      ++i;
      continue;
    }
    const size_t start = i;
    const char32_t cp = next_code_point(text, i);
    if (cp == 0x130) {  // SpecialCasing: LATIN CAPITAL LETTER I WITH DOT ABOVE
      out.append("i\xCC\x87");
    } else if (cp == 0x3A3) {
      append_utf8(is_final_sigma(text, start, i) ? 0x3C2 : 0x3C3, out);
    } else {
      append_utf8(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))), out);
    }
  }
  return out;
}

}  // namespace embedrt::runtime
