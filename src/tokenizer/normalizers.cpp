// Normalizers of the tokenizer.json "normalizer" field, reproducing HF tokenizers' semantics and
// alignments. Every normalizer leaves the string untouched (no copy) when it would not change it.
#include <utf8proc.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "embedrt/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/components.h"
#include "tokenizer/precompiled_charsmap.h"
#include "tokenizer/split_pattern.h"
#include "tokenizer/text_builder.h"
#include "tokenizer/unicode.h"

namespace embedrt::tokenizer {
namespace {

namespace uc = unicode;

// Canonical decomposition of one code point (Hangul included); returns the number written.
size_t canonical_decomposition(char32_t c, char32_t* out, size_t capacity) {
  utf8proc_int32_t buffer[32];
  const utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buffer, 32,
                                                     UTF8PROC_DECOMPOSE, nullptr);
  if (n <= 0 || static_cast<size_t>(n) > capacity) {
    out[0] = c;
    return 1;
  }
  for (utf8proc_ssize_t i = 0; i < n; ++i) out[i] = static_cast<char32_t>(buffer[i]);
  return static_cast<size_t>(n);
}

// Writes `replacement` for the characters whose origins are `old_origins`, the way HF's
// transform() aligns it: new character k takes the origin of old character min(k, last). With
// `last_to_last`, the final new character takes the final old one's (Unicode composition consumes
// characters before the last output character is aligned).
void put_positional(TextBuilder& out, std::string_view replacement,
                    const std::vector<ByteSpan>& old_origins, bool last_to_last = false) {
  size_t new_count = 0;
  if (last_to_last) {
    for (char ch : replacement) new_count += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
  }
  size_t k = 0;
  size_t i = 0;
  while (i < replacement.size()) {
    const size_t start = i;
    decode_utf8(replacement, i);
    size_t from = std::min(k, old_origins.size() - 1);
    if (last_to_last && new_count > 1 && k == new_count - 1) from = old_origins.size() - 1;
    const ByteSpan origin = old_origins.empty() ? ByteSpan{} : old_origins[from];
    out.put_bytes(replacement.substr(start, i - start), origin);
    ++k;
  }
}

void lowercase_ascii_in_place(NormalizedString& text) {
  for (char& c : text.mutable_bytes()) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
}

class BertNormalizer final : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool handle_chinese_chars, bool strip_accents, bool lowercase)
      : clean_text_(clean_text),
        handle_chinese_chars_(handle_chinese_chars),
        strip_accents_(strip_accents),
        lowercase_(lowercase) {}

  void normalize(NormalizedString& text) const override {
    const std::string& s = text.text();
    bool ascii = true;
    bool ascii_control = false;
    for (char ch : s) {
      const auto b = static_cast<unsigned char>(ch);
      ascii &= b < 0x80;
      ascii_control |= b < 0x20 || b == 0x7F;
    }
    if (ascii && !(clean_text_ && ascii_control)) {
      // Nothing but lowercasing can change pure ASCII text, and that keeps every length.
      if (lowercase_) lowercase_ascii_in_place(text);
      return;
    }
    TextBuilder out(s.size() + s.size() / 4);
    // Combining marks waiting for the end of their run (strip_accents only).
    thread_local std::vector<NfdPart> marks;
    marks.clear();
    bool marks_pending = false;
    size_t i = 0;
    while (i < s.size()) {
      const auto b = static_cast<unsigned char>(s[i]);
      if (b < 0x80) {
        // ASCII: no decomposition, no CJK, lowercasing stays in ASCII.
        const uint16_t cls = uc::kAsciiClasses[b];
        const ByteSpan origin = text.origins()[i++];
        if (clean_text_ && (cls & uc::kBertControl)) continue;
        if (marks_pending) {
          flush_marks(marks, out);
          marks_pending = false;
        }
        char c = (clean_text_ && (cls & uc::kWhitespace)) ? ' ' : static_cast<char>(b);
        if (lowercase_ && c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        out.put_byte(c, origin);
        continue;
      }
      const size_t start = i;
      const char32_t c = decode_utf8(s, i);
      const ByteSpan origin = char_origin(text, start, i);
      put_cleaned(c, origin, marks, out);
      marks_pending = !marks.empty();
    }
    if (marks_pending) flush_marks(marks, out);
    out.commit(text);
  }

 private:
  // A combining mark of HF's NFD output: `inserted` marks a part after the first of a
  // decomposition (HF's change 1); `source` is the origin of the character it came from.
  struct NfdPart {
    char32_t cp;
    uint8_t ccc;
    bool inserted;
    ByteSpan source;
  };

  void put_cleaned(char32_t c, ByteSpan origin, std::vector<NfdPart>& marks,
                   TextBuilder& out) const {
    if (clean_text_) {
      if (uc::has(c, uc::kBertControl)) return;  // also NUL and U+FFFD
      if (uc::has(c, uc::kWhitespace)) c = ' ';
    }
    if (handle_chinese_chars_ && uc::is_chinese_char(c)) {
      put_stripped(' ', origin, marks, out);
      put_stripped(c, origin, marks, out);
      put_stripped(' ', origin, marks, out);
      return;
    }
    put_stripped(c, origin, marks, out);
  }

  // Strip accents is HF's nfd() followed by dropping nonspacing marks. NFD sorts every run of
  // combining marks by combining class, and HF then aligns the run by position, so marks wait
  // for the end of their run; characters of class 0 never move and go straight through.
  void put_stripped(char32_t c, ByteSpan origin, std::vector<NfdPart>& marks,
                    TextBuilder& out) const {
    if (!strip_accents_) {
      put_lowered(c, origin, out);
      return;
    }
    if (c < 0x80) {
      if (!marks.empty()) flush_marks(marks, out);
      put_lowered(c, origin, out);
      return;
    }
    char32_t parts[8];
    const size_t n = canonical_decomposition(c, parts, 8);
    for (size_t k = 0; k < n; ++k) {
      // Nothing below U+0300 has a nonzero combining class.
      const auto ccc =
          parts[k] < 0x300
              ? uint8_t{0}
              : static_cast<uint8_t>(utf8proc_get_property(static_cast<utf8proc_int32_t>(parts[k]))
                                         ->combining_class);
      if (ccc != 0) {
        marks.push_back(NfdPart{parts[k], ccc, k > 0, origin});
        continue;
      }
      if (!marks.empty()) flush_marks(marks, out);
      if (!uc::has(parts[k], uc::kNonspacingMark)) put_lowered(parts[k], origin, out);
    }
  }

  void flush_marks(std::vector<NfdPart>& marks, TextBuilder& out) const {
    bool sorted = true;
    for (size_t k = 1; k < marks.size() && sorted; ++k) sorted = marks[k - 1].ccc <= marks[k].ccc;
    if (!sorted) realign_reordered(marks);
    for (const NfdPart& part : marks) {
      if (!uc::has(part.cp, uc::kNonspacingMark)) put_lowered(part.cp, part.source, out);
    }
    marks.clear();
  }

  // HF's transform() aligns NFD output by position, not by character: after the canonical
  // reordering, the k-th replacing mark takes the origin of the k-th character of the run before
  // it, and an inserted mark that of the character consumed just before it. An inserted mark
  // that sorts first in the run follows its own first part, a starter emitted just before the
  // run, so its own origin is already right.
  static void realign_reordered(std::vector<NfdPart>& marks) {
    ByteSpan sources[32];
    if (marks.size() > 32) return;  // beyond any real text; keep the per-character origins
    size_t consumed = 0;
    for (const NfdPart& part : marks) {
      if (!part.inserted) sources[consumed++] = part.source;
    }
    std::stable_sort(marks.begin(), marks.end(),
                     [](const NfdPart& a, const NfdPart& b) { return a.ccc < b.ccc; });
    size_t k = 0;
    for (NfdPart& part : marks) {
      if (!part.inserted) {
        part.source = sources[k++];
      } else if (k > 0) {
        part.source = sources[k - 1];
      }
    }
  }

  void put_lowered(char32_t c, ByteSpan origin, TextBuilder& out) const {
    if (!lowercase_) {
      out.put(c, origin);
      return;
    }
    char32_t lower[3];
    const size_t n = uc::to_lowercase(c, lower);
    for (size_t k = 0; k < n; ++k) out.put(lower[k], origin);
  }

  bool clean_text_;
  bool handle_chinese_chars_;
  bool strip_accents_;
  bool lowercase_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override {
    if (is_ascii(text.text())) {
      lowercase_ascii_in_place(text);
      return;
    }
    text.map_chars([](char32_t c, NormalizedString::Emitter& out) {
      char32_t lower[3];
      const size_t n = uc::to_lowercase(c, lower);
      for (size_t k = 0; k < n; ++k) out.emit(lower[k]);
    });
  }
};

class StripAccentsNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override {
    if (is_ascii(text.text())) return;
    text.map_chars([](char32_t c, NormalizedString::Emitter& out) {
      if (!uc::has(c, uc::kStripAccentsMark)) out.emit(c);
    });
  }
};

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };

// NFC/NFD/NFKC/NFKD. The text is cut into segments that normalize independently (a starter and
// the characters that may reorder or compose with it); unchanged segments are copied as they are.
class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalForm form)
      : compat_(form == NormalForm::kNfkc || form == NormalForm::kNfkd),
        compose_(form == NormalForm::kNfc || form == NormalForm::kNfkc) {
    options_ = static_cast<utf8proc_option_t>(UTF8PROC_STABLE |
                                              (compose_ ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE) |
                                              (compat_ ? UTF8PROC_COMPAT : 0));
  }

  void normalize(NormalizedString& text) const override {
    const std::string& s = text.text();
    if (is_ascii(s)) return;
    TextBuilder out(s.size() + 16);
    std::vector<utf8proc_int32_t> buffer(64);
    std::vector<ByteSpan> old_origins;
    std::string replacement;
    bool changed = false;
    size_t i = 0;
    while (i < s.size()) {
      // An ASCII character is its own segment unless a combining character follows it.
      size_t ascii_end = i;
      while (ascii_end < s.size() && static_cast<unsigned char>(s[ascii_end]) < 0x80) ++ascii_end;
      if (ascii_end > i) {
        const size_t keep = ascii_end == s.size() ? ascii_end : ascii_end - 1;
        if (keep > i) out.copy(text, i, keep);
        i = keep;
        if (i == s.size()) break;
      }
      const size_t begin = i;
      decode_utf8(s, i);
      while (i < s.size()) {
        size_t next = i;
        const char32_t c = decode_utf8(s, next);
        if (starts_segment(c)) break;
        i = next;
      }
      if (!normalize_segment(std::string_view(s).substr(begin, i - begin), buffer, replacement)) {
        out.copy(text, begin, i);
        continue;
      }
      changed = true;
      old_origins.clear();
      for (size_t k = begin; k < i;) {
        const size_t start = k;
        decode_utf8(s, k);
        old_origins.push_back(char_origin(text, start, k));
      }
      if (compose_ || !put_decomposed(out, std::string_view(s).substr(begin, i - begin),
                                      replacement, old_origins)) {
        put_positional(out, replacement, old_origins, /*last_to_last=*/true);
      }
    }
    if (changed) out.commit(text);
  }

 private:
  // True when `c` cannot interact with what precedes it under this form.
  bool starts_segment(char32_t c) const {
    if (c < 0x80) return true;
    utf8proc_int32_t parts[32];
    const utf8proc_ssize_t n = utf8proc_decompose_char(
        static_cast<utf8proc_int32_t>(c), parts, 32,
        static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | (compat_ ? UTF8PROC_COMPAT : 0)),
        nullptr);
    const utf8proc_int32_t first = n > 0 ? parts[0] : static_cast<utf8proc_int32_t>(c);
    const utf8proc_property_t* p = utf8proc_get_property(first);
    if (p->combining_class != 0) return false;
    if (p->category == UTF8PROC_CATEGORY_MN || p->category == UTF8PROC_CATEGORY_MC ||
        p->category == UTF8PROC_CATEGORY_ME) {
      return false;
    }
    // Hangul vowel and trailing jamo compose with the syllable before them.
    return !((first >= 0x1161 && first <= 0x1175) || (first >= 0x11A8 && first <= 0x11C2));
  }

  // NFD/NFKD as HF aligns it: every character's decomposition is its first part (replacing the
  // character) followed by inserted parts, canonical ordering then sorts each starter's group by
  // combining class with those roles attached, and transform() gives the k-th replacing part the
  // origin of the k-th old character and an inserted part the origin of the last one consumed.
  // False (nothing written) if the parts do not spell `replacement`.
  bool put_decomposed(TextBuilder& out, std::string_view segment, std::string_view replacement,
                      const std::vector<ByteSpan>& old_origins) const {
    struct Part {
      char32_t cp;
      uint8_t ccc;
      bool inserted;
    };
    std::vector<Part> parts;
    const auto options =
        static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | (compat_ ? UTF8PROC_COMPAT : 0));
    size_t group_start = 0;
    auto sort_group = [&] {
      std::stable_sort(parts.begin() + static_cast<std::ptrdiff_t>(group_start), parts.end(),
                       [](const Part& a, const Part& b) { return a.ccc < b.ccc; });
    };
    for (size_t i = 0; i < segment.size();) {
      const char32_t c = decode_utf8(segment, i);
      utf8proc_int32_t buffer[32];
      utf8proc_ssize_t n =
          utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buffer, 32, options, nullptr);
      if (n <= 0 || n > 32) return false;
      for (utf8proc_ssize_t k = 0; k < n; ++k) {
        const auto ccc = static_cast<uint8_t>(utf8proc_get_property(buffer[k])->combining_class);
        if (ccc == 0) {
          sort_group();
          group_start = parts.size();
        }
        parts.push_back({static_cast<char32_t>(buffer[k]), ccc, k > 0});
      }
    }
    sort_group();
    std::string spelled;
    for (const Part& p : parts) append_utf8(p.cp, spelled);
    if (spelled != replacement) return false;
    size_t consumed = 0;
    for (const Part& p : parts) {
      const size_t from = p.inserted ? (consumed > 0 ? consumed - 1 : 0) : consumed++;
      out.put(p.cp, old_origins[std::min(from, old_origins.size() - 1)]);
    }
    return true;
  }

  // Normalizes one segment into `replacement`; false when the segment is already normalized.
  bool normalize_segment(std::string_view segment, std::vector<utf8proc_int32_t>& buffer,
                         std::string& replacement) const {
    const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(segment.data());
    utf8proc_ssize_t n =
        utf8proc_decompose(bytes, static_cast<utf8proc_ssize_t>(segment.size()), buffer.data(),
                           static_cast<utf8proc_ssize_t>(buffer.size()), options_);
    if (n > static_cast<utf8proc_ssize_t>(buffer.size())) {
      buffer.resize(static_cast<size_t>(n));
      n = utf8proc_decompose(bytes, static_cast<utf8proc_ssize_t>(segment.size()), buffer.data(), n,
                             options_);
    }
    if (n < 0) return false;  // invalid UTF-8 cannot reach here; leave it untouched
    if (compose_) n = utf8proc_normalize_utf32(buffer.data(), n, options_);
    replacement.clear();
    for (utf8proc_ssize_t k = 0; k < n; ++k) {
      append_utf8(static_cast<char32_t>(buffer[static_cast<size_t>(k)]), replacement);
    }
    return replacement != segment;
  }

  bool compat_;
  bool compose_;
  utf8proc_option_t options_;
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}

  void normalize(NormalizedString& text) const override {
    const std::string& s = text.text();
    size_t begin = 0;
    size_t end = s.size();
    if (left_) {
      while (begin < end) {
        size_t next = begin;
        if (!uc::has(decode_utf8(s, next), uc::kWhitespace)) break;
        begin = next;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
        size_t next = start;
        if (!uc::has(decode_utf8(s, next), uc::kWhitespace)) break;
        end = start;
      }
    }
    if (begin == 0 && end == s.size()) return;
    text = text.slice(begin, end);
  }

 private:
  bool left_;
  bool right_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(SplitPattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}

  void normalize(NormalizedString& text) const override {
    std::vector<MatchSpan> matches;
    pattern_.find(text.text(), matches);
    if (matches.empty()) return;
    const std::string& s = text.text();
    TextBuilder out(s.size() + matches.size() * content_.size());
    size_t previous = 0;
    for (const MatchSpan& m : matches) {
      out.copy(text, previous, m.begin);
      // HF aligns the inserted content with the last byte of the match (or the byte before an
      // empty match).
      ByteSpan origin{};
      if (m.end > 0) origin = text.origins()[m.end - 1];
      if (m.end > m.begin) {
        size_t last = m.end - 1;
        while (last > m.begin && (static_cast<unsigned char>(s[last]) & 0xC0) == 0x80) --last;
        origin = char_origin(text, last, m.end);
      }
      out.put_bytes(content_, origin);
      previous = m.end;
    }
    out.copy(text, previous, s.size());
    out.commit(text);
  }

 private:
  SplitPattern pattern_;
  std::string content_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(NormalizedString& text) const override { prepend_to_first_char(text, prefix_); }

 private:
  std::string prefix_;
};

// SentencePiece's compiled normalization rules, applied per grapheme cluster with a per-character
// fallback, exactly as HF's precompiled.rs does.
class PrecompiledNormalizer final : public Normalizer {
 public:
  explicit PrecompiledNormalizer(PrecompiledCharsmap charsmap) : charsmap_(std::move(charsmap)) {
    for (int b = 0; b < 0x80; ++b) {
      const char ch = static_cast<char>(b);
      ascii_[b] = charsmap_.transform(std::string_view(&ch, 1));
    }
  }

  void normalize(NormalizedString& text) const override {
    const std::string_view s(text.text());
    thread_local std::vector<NormalizedString::Change> changes;
    changes.clear();
    bool modified = false;
    size_t i = 0;
    while (i < s.size()) {
      const auto b = static_cast<unsigned char>(s[i]);
      const bool next_ascii = i + 1 == s.size() || static_cast<unsigned char>(s[i + 1]) < 0x80;
      if (b < 0x80 && next_ascii && !(b == '\r' && i + 1 < s.size() && s[i + 1] == '\n')) {
        // A lone ASCII character is a grapheme of its own.
        if (ascii_[b]) {
          modified = true;
          push_changes(*ascii_[b], 1, changes);
        } else {
          changes.push_back({b, 0});
        }
        ++i;
        continue;
      }
      const size_t end = grapheme_end(s, i);
      const std::string_view grapheme = s.substr(i, end - i);
      if (grapheme.size() < 6) {
        if (auto norm = charsmap_.transform(grapheme)) {
          modified = true;
          push_changes(*norm, count_chars(grapheme), changes);
          i = end;
          continue;
        }
      }
      while (i < end) {
        const size_t start = i;
        const char32_t c = decode_utf8(s, i);
        if (auto norm = charsmap_.transform(s.substr(start, i - start))) {
          modified = true;
          push_changes(*norm, 1, changes);
        } else {
          changes.push_back({c, 0});
        }
      }
    }
    if (modified) text.transform(changes, 0);
  }

 private:
  static int32_t count_chars(std::string_view utf8) {
    int32_t n = 0;
    for (char ch : utf8) n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
    return n;
  }

  // HF's Precompiled alignment: the new characters replace the old ones one for one, surplus
  // new characters are inserted, and surplus old ones are dropped by the last character pushed so
  // far, which is the one before the rule when the rule yields nothing. At the very start of the
  // text there is no such character, so HF never consumes removed leading characters and every
  // origin after them shifts by that many characters; reproduced on purpose.
  static void push_changes(std::string_view norm, int32_t old_count,
                           std::vector<NormalizedString::Change>& changes) {
    int32_t k = 0;
    for (size_t j = 0; j < norm.size(); ++k) {
      const char32_t c = decode_utf8(norm, j);
      changes.push_back({c, k < old_count ? 0 : 1});
    }
    if (k < old_count && !changes.empty()) changes.back().change -= old_count - k;
  }

  static size_t grapheme_end(std::string_view s, size_t begin) {
    utf8proc_int32_t state = 0;
    size_t i = begin;
    char32_t previous = decode_utf8(s, i);
    while (i < s.size()) {
      size_t next = i;
      const char32_t c = decode_utf8(s, next);
      if (utf8proc_grapheme_break_stateful(static_cast<utf8proc_int32_t>(previous),
                                           static_cast<utf8proc_int32_t>(c), &state)) {
        break;
      }
      previous = c;
      i = next;
    }
    return i;
  }

  PrecompiledCharsmap charsmap_;
  std::optional<std::string_view> ascii_[0x80];
};

// Replaces every byte by the character GPT-2's byte-level alphabet renders it as.
class ByteLevelNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override {
    text.map_chars([](char32_t c, NormalizedString::Emitter& out) {
      char bytes[4];
      const size_t n = encode_utf8(c, bytes);
      for (size_t k = 0; k < n; ++k) out.emit(kByteToChar[static_cast<unsigned char>(bytes[k])]);
    });
  }
};

// SentencePiece's NMT normalization rules (nmt.rs).
class NmtNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override {
    text.map_chars([](char32_t c, NormalizedString::Emitter& out) {
      if ((c >= 0x1 && c <= 0x8) || c == 0xB || (c >= 0xE && c <= 0x1F) || c == 0x7F || c == 0x8F ||
          c == 0x9F) {
        return;
      }
      if (c == 0x9 || c == 0xA || c == 0xC || c == 0xD || c == 0x1680 ||
          (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581 ||
          c == 0xFEFF || c == 0xFFFD) {
        c = ' ';
      }
      out.emit(c);
    });
  }
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps)
      : steps_(std::move(steps)) {}
  void normalize(NormalizedString& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

std::unique_ptr<Normalizer> make_bert_normalizer(const JsonNode& node) {
  const bool lowercase = node.get_bool("lowercase", true);
  // A null strip_accents means "strip when lowercasing".
  const bool strip_accents = node.get_bool("strip_accents", lowercase);
  return std::make_unique<BertNormalizer>(node.get_bool("clean_text", true),
                                          node.get_bool("handle_chinese_chars", true),
                                          strip_accents, lowercase);
}

std::unique_ptr<Normalizer> make_precompiled(const JsonNode& node) {
  const auto field = node.find("precompiled_charsmap");
  // SentencePiece models without normalization rules carry no charsmap: nothing to apply.
  if (!field)
    return std::make_unique<SequenceNormalizer>(std::vector<std::unique_ptr<Normalizer>>{});
  const std::string where = node.file() + ": " + field->path();
  const std::string blob = decode_base64(field->as_string(), where);
  if (blob.empty()) {
    return std::make_unique<SequenceNormalizer>(std::vector<std::unique_ptr<Normalizer>>{});
  }
  return std::make_unique<PrecompiledNormalizer>(PrecompiledCharsmap(blob, where));
}

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const JsonNode& node) {
  node.expect_object();
  const std::string type = node.at("type").as_string();
  if (type == "BertNormalizer") return make_bert_normalizer(node);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalForm::kNfc);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalForm::kNfd);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalForm::kNfkc);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalForm::kNfkd);
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(node.get_bool("strip_left", true),
                                             node.get_bool("strip_right", true));
  }
  if (type == "Replace") {
    return std::make_unique<ReplaceNormalizer>(SplitPattern::from_json(node.at("pattern")),
                                               node.at("content").as_string());
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(node.at("prepend").as_string());
  if (type == "Precompiled") return make_precompiled(node);
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "Nmt") return std::make_unique<NmtNormalizer>();
  if (type == "Sequence") {
    const JsonNode list = node.at("normalizers");
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (size_t k = 0; k < list.array_size(); ++k) steps.push_back(make_normalizer(list.at(k)));
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  node.at("type").unsupported("normalizer type '" + type + "' is not supported");
}

}  // namespace embedrt::tokenizer
