#include "tokenizer/gpt2_split.h"

#include "tokenizer/normalized_string.h"
#include "tokenizer/unicode.h"

namespace embedrt::tokenizer {
namespace {

namespace uc = unicode;

enum class Kind { kLetter, kNumber, kSpace, kOther };

Kind kind_of(char32_t c) {
  const uint16_t cls = uc::classes(c);
  if (cls & uc::kRegexLetter) return Kind::kLetter;
  if (cls & uc::kRegexNumber) return Kind::kNumber;
  if (cls & uc::kRegexSpace) return Kind::kSpace;
  return Kind::kOther;
}

Kind kind_at(std::string_view s, size_t i, size_t& next) {
  next = i;
  return kind_of(decode_utf8(s, next));
}

// Length of a contraction ('s 't 're 've 'm 'll 'd) at `i`, or 0.
size_t contraction_length(std::string_view s, size_t i) {
  if (s[i] != '\'' || i + 1 >= s.size()) return 0;
  const char a = s[i + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= s.size()) return 0;
  const char b = s[i + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

}  // namespace

void gpt2_split(std::string_view s, std::vector<MatchSpan>& out) {
  size_t i = 0;
  while (i < s.size()) {
    if (const size_t n = contraction_length(s, i)) {
      out.push_back({i, i + n});
      i += n;
      continue;
    }
    // " ?X+" for X in letters, numbers, others: an optional leading space then one run.
    size_t run_start = i + (s[i] == ' ' ? 1 : 0);
    if (run_start < s.size()) {
      size_t next;
      const Kind kind = kind_at(s, run_start, next);
      if (kind != Kind::kSpace) {
        size_t end = next;
        while (end < s.size()) {
          size_t after;
          if (kind_at(s, end, after) != kind) break;
          end = after;
        }
        out.push_back({i, end});
        i = end;
        continue;
      }
    }
    // Whitespace run: "\s+(?!\S)" leaves the last space for the next word, "\s+" takes a lone one.
    size_t end = i;
    size_t last_start = i;
    while (end < s.size()) {
      size_t after;
      if (kind_at(s, end, after) != Kind::kSpace) break;
      last_start = end;
      end = after;
    }
    if (end < s.size() && last_start > i) end = last_start;
    out.push_back({i, end});
    i = end;
  }
}

}  // namespace embedrt::tokenizer
