// Regular expressions with the semantics HF tokenizers gets from Oniguruma, run by PCRE2 (UTF,
// UCP, JIT). \s and \w are rewritten to Oniguruma's Unicode definitions before compiling; see
// unicode.h for why they differ.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace embedrt::tokenizer {

struct MatchSpan {
  size_t begin;
  size_t end;
};

class Regex {
 public:
  // Throws kInvalidModel naming `where` when the pattern does not compile.
  Regex(std::string_view pattern, const std::string& where);
  // Escapes `literal` so that it matches itself.
  static std::string escape(std::string_view literal);

  // All matches, left to right, the way the `onig` crate's find_iter reports them: an empty match
  // right where the previous match ended is skipped.
  void find_all(std::string_view text, std::vector<MatchSpan>& out) const;

  const std::string& translated_pattern() const noexcept { return translated_; }

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> compiled_;
  std::string translated_;
};

// Rewrites Oniguruma-only class escapes into equivalent PCRE2 syntax.
std::string translate_onig_pattern(std::string_view pattern);

}  // namespace embedrt::tokenizer
