#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "embedrt/error.h"
#include "tokenizer/normalized_string.h"

namespace embedrt::tokenizer {
namespace {

// Oniguruma \s: White_Space. PCRE2's UCP \s adds U+180E.
constexpr std::string_view kSpaceSet =
    R"(\t-\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";
// Oniguruma \w (measured through HF): Alphabetic | M | Nd | Pc plus the Latin-1 digits and
// fractions U+00B2 U+00B3 U+00B9 U+00BC-U+00BE. PCRE2 10.42's UCP \w is L | N | '_'.
constexpr std::string_view kWordSet =
    R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{B2}\x{B3}\x{B9}\x{BC}-\x{BE})";

}  // namespace

std::string translate_onig_pattern(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      const bool negated = e == 'S' || e == 'W';
      const std::string_view set = (e == 's' || e == 'S')   ? kSpaceSet
                                   : (e == 'w' || e == 'W') ? kWordSet
                                                            : std::string_view{};
      if (set.empty() || (in_class && negated)) {
        // A negated set cannot be spliced into an enclosing class; PCRE2's own is close.
        out.push_back('\\');
        out.push_back(e);
      } else if (in_class) {
        out.append(set);
      } else {
        out.append(negated ? "[^" : "[");
        out.append(set);
        out.push_back(']');
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out.push_back(c);
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out.push_back(pattern[++i]);
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out.push_back(pattern[++i]);
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out.push_back(c);
  }
  return out;
}

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

Regex::Regex(std::string_view pattern, const std::string& where)
    : translated_(translate_onig_pattern(pattern)) {
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated_.data()), translated_.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    throw Error(ErrorCode::kInvalidModel, where + ": invalid regular expression '" +
                                              std::string(pattern) +
                                              "': " + reinterpret_cast<const char*>(message));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
  auto compiled = std::make_shared<Compiled>();
  compiled->code = code;
  compiled_ = std::move(compiled);
}

std::string Regex::escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view(R"(\^$.|?*+()[]{}-/#&~ )").find(c) != std::string_view::npos) {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

void Regex::find_all(std::string_view text, std::vector<MatchSpan>& out) const {
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
  if (data == nullptr) throw Error(ErrorCode::kInternal, "out of memory creating regex match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t search_from = 0;
  size_t last_match_end = std::string_view::npos;
  while (search_from <= text.size()) {
    const int rc = pcre2_match(compiled_->code, subject, text.size(), search_from,
                               PCRE2_NO_UTF_CHECK, data, nullptr);
    if (rc < 0) {
      if (rc == PCRE2_ERROR_NOMATCH) break;
      pcre2_match_data_free(data);
      throw Error(ErrorCode::kInternal,
                  "regex match failed with PCRE2 error " + std::to_string(rc));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (begin == end && end == last_match_end) {
      if (search_from >= text.size()) break;
      search_from += utf8_length(static_cast<unsigned char>(text[search_from]));
      continue;
    }
    out.push_back({begin, end});
    search_from = end;
    last_match_end = end;
  }
  pcre2_match_data_free(data);
}

}  // namespace embedrt::tokenizer
