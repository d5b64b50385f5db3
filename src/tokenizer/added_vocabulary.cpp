#include "tokenizer/added_vocabulary.h"

#include <utf8proc.h>
#include <algorithm>

namespace embedrt::tokenizer {
namespace {

// Unicode White_Space, the \s of the regex crate.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// The regex crate's \w: Alphabetic, marks, decimal digits, connector punctuation, join controls.
bool is_word_char(char32_t c) {
  if (c == 0x200C || c == 0x200D) return true;
  // Other_Alphabetic symbols (circled and squared Latin letters) count as letters.
  if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) ||
      (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189)) {
    return true;
  }
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

char32_t last_char(std::string_view s) {
  size_t i = s.size();
  while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i;
  if (i > 0) --i;
  return decode_utf8(s, i);
}

// Start of the run of white space that ends `s`.
size_t trailing_space_start(std::string_view s) {
  size_t start = s.size();
  while (start > 0) {
    size_t i = start - 1;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    size_t j = i;
    if (!is_white_space(decode_utf8(s, j))) break;
    start = i;
  }
  return start;
}

// Length of the run of white space that starts `s`.
size_t leading_space_length(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    if (!is_white_space(decode_utf8(s, j))) break;
    i = j;
  }
  return i;
}

}  // namespace

AddedVocabulary::AddedVocabulary(const std::vector<AddedToken>& tokens, const Model& model,
                                 const Normalizer* normalizer) {
  for (const AddedToken& token : tokens) add(token, model);
  std::vector<std::pair<std::string, int32_t>> raw, normalized;
  auto collect = [&](const std::vector<AddedToken>& list) {
    for (const AddedToken& token : list) {
      const int32_t id = *token_to_id(token.content);
      if (!token.normalized) {
        raw.emplace_back(token.content, id);
        continue;
      }
      NormalizedString pattern(token.content);
      if (normalizer) normalizer->normalize(pattern);
      normalized.emplace_back(pattern.text(), id);
    }
  };
  collect(special_);
  collect(classic_);
  build_matcher(raw_, raw);
  build_matcher(normalized_, normalized);
  for (const auto& [content, id] : ids_) {
    if (!model.token_to_id(content)) ++extra_;
  }
}

void AddedVocabulary::add(const AddedToken& token, const Model& model) {
  const bool is_special_already = std::find(special_contents_.begin(), special_contents_.end(),
                                            token.content) != special_contents_.end();
  if (token.special && !token.content.empty() && !is_special_already) {
    special_.push_back(token);
    special_contents_.push_back(token.content);
  }
  if (token.content.empty()) return;
  for (const auto& [id, existing] : tokens_by_id_) {
    if (existing == token) return;
  }
  int32_t id;
  if (const auto known = token_to_id(token.content)) {
    id = *known;
  } else if (const auto model_id = model.token_to_id(token.content)) {
    id = *model_id;
  } else {
    const auto vocab = static_cast<int32_t>(model.vocab_size());
    int32_t max_id = -1;
    for (const auto& [content, existing_id] : ids_) max_id = std::max(max_id, existing_id);
    id = (max_id < 0) ? vocab : (max_id >= vocab || vocab == 0) ? max_id + 1 : vocab;
  }
  ids_[token.content] = id;
  tokens_by_id_[id] = token;
  if (std::find(special_contents_.begin(), special_contents_.end(), token.content) ==
      special_contents_.end()) {
    classic_.push_back(token);
  }
}

void AddedVocabulary::build_matcher(Matcher& m,
                                    const std::vector<std::pair<std::string, int32_t>>& patterns) {
  for (const auto& [pattern, id] : patterns) {
    // An empty pattern would match everywhere; HF's automaton never reports it usefully.
    if (pattern.empty()) continue;
    m.trie.insert(pattern, static_cast<int32_t>(m.ids.size()));
    m.ids.push_back(id);
    m.first_byte[static_cast<unsigned char>(pattern[0])] = true;
  }
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
  auto it = ids_.find(std::string(content));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> AddedVocabulary::id_to_token(int32_t id) const {
  auto it = tokens_by_id_.find(id);
  if (it == tokens_by_id_.end()) return std::nullopt;
  return it->second.content;
}

void AddedVocabulary::split(std::string_view text, const Matcher& m,
                            std::vector<TextSplit>& out) const {
  size_t start_offset = 0;
  size_t pos = 0;
  if (!m.ids.empty()) {
    while (pos < text.size()) {
      if (!m.first_byte[static_cast<unsigned char>(text[pos])]) {
        ++pos;
        continue;
      }
      // Longest pattern starting here (the leftmost position with any match wins).
      uint32_t node = ByteTrie::kRoot;
      size_t match_end = 0;
      int32_t pattern = -1;
      for (size_t i = pos; i < text.size(); ++i) {
        node = m.trie.child(node, static_cast<unsigned char>(text[i]));
        if (node == ByteTrie::kNoNode) break;
        if (m.trie.value(node) >= 0) {
          match_end = i + 1;
          pattern = m.trie.value(node);
        }
      }
      if (pattern < 0) {
        ++pos;
        continue;
      }
      size_t start = pos;
      size_t stop = match_end;
      // The search resumes after the pattern itself, whatever rstrip swallows.
      pos = match_end;
      const int32_t id = m.ids[static_cast<size_t>(pattern)];
      const AddedToken& token = tokens_by_id_.at(id);
      if (token.single_word) {
        const bool start_space = start == 0 || !is_word_char(last_char(text.substr(0, start)));
        size_t j = stop;
        const bool stop_space = stop == text.size() || !is_word_char(decode_utf8(text, j));
        if (!start_space || !stop_space) continue;
      }
      if (token.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), start_offset);
      if (token.rstrip) stop += leading_space_length(text.substr(stop));
      if (start_offset < start) out.push_back(TextSplit{start_offset, start, -1});
      out.push_back(TextSplit{start, stop, id});
      start_offset = stop;
    }
  }
  if (start_offset != text.size()) out.push_back(TextSplit{start_offset, text.size(), -1});
}

}  // namespace embedrt::tokenizer
