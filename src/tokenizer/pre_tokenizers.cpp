// Pre-tokenizers of the tokenizer.json "pre_tokenizer" field, reproducing HF tokenizers' splits
// and offsets. Character classes come from unicode.h (HF's own Unicode tables).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "embedrt/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/components.h"
#include "tokenizer/gpt2_split.h"
#include "tokenizer/split_pattern.h"
#include "tokenizer/text_builder.h"
#include "tokenizer/unicode.h"

namespace embedrt::tokenizer {
namespace {

namespace uc = unicode;

// Class bits of the character at s[i]; advances i past it. ASCII needs no decoding.
inline uint16_t next_classes(std::string_view s, size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {
    ++i;
    return uc::kAsciiClasses[b];
  }
  return uc::classes_of(decode_utf8(s, i));
}

// Every character with any of `classes` is a match of its own (HF's char-predicate pattern).
void split_on_classes(const NormalizedString& piece, uint16_t classes, SplitBehavior behavior,
                      std::vector<NormalizedString>& out) {
  const std::string& s = piece.text();
  std::vector<Segment> segments;
  size_t gap_start = 0;
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    if (next_classes(s, i) & classes) {
      if (gap_start < start) segments.push_back({gap_start, start, false});
      segments.push_back({start, i, true});
      gap_start = i;
    }
  }
  if (gap_start < s.size()) segments.push_back({gap_start, s.size(), false});
  split_into(piece, segments, behavior, out);
}

// Whitespace-separated words with every punctuation character on its own.
class BertPreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(NormalizedString&& piece, std::vector<NormalizedString>& out) const override {
    const std::string& s = piece.text();
    size_t word_start = 0;
    size_t i = 0;
    while (i < s.size()) {
      const size_t start = i;
      const uint16_t cls = next_classes(s, i);
      if (cls & (uc::kWhitespace | uc::kPunctuation)) {
        if (word_start < start) out.push_back(piece.slice(word_start, start));
        if (cls & uc::kPunctuation) out.push_back(piece.slice(start, i));
        word_start = i;
      }
    }
    if (word_start < s.size()) {
      if (word_start == 0) {
        out.push_back(std::move(piece));
      } else {
        out.push_back(piece.slice(word_start, s.size()));
      }
    }
  }
};

// Runs of characters of one kind are pieces; characters of `dropped` separate them.
// Whitespace (\w+|[^\w\s]+) keeps word runs and other runs apart; WhitespaceSplit has one kind.
class RunPreTokenizer final : public PreTokenizer {
 public:
  RunPreTokenizer(uint16_t dropped, uint16_t kind_mask)
      : dropped_(dropped), kind_mask_(kind_mask) {}

  void pre_tokenize(NormalizedString&& piece, std::vector<NormalizedString>& out) const override {
    const std::string& s = piece.text();
    size_t run_start = 0;
    int run_kind = -1;  // -1: not in a run
    size_t i = 0;
    while (i < s.size()) {
      const size_t start = i;
      const uint16_t cls = next_classes(s, i);
      const int kind = (cls & dropped_) ? -1 : int(cls & kind_mask_);
      if (kind != run_kind) {
        if (run_kind != -1) out.push_back(piece.slice(run_start, start));
        run_start = start;
        run_kind = kind;
      }
    }
    if (run_kind != -1) {
      if (run_start == 0) {
        out.push_back(std::move(piece));
      } else {
        out.push_back(piece.slice(run_start, s.size()));
      }
    }
  }

 private:
  uint16_t dropped_;
  uint16_t kind_mask_;
};

class ClassSplitPreTokenizer final : public PreTokenizer {
 public:
  ClassSplitPreTokenizer(uint16_t classes, SplitBehavior behavior)
      : classes_(classes), behavior_(behavior) {}
  void pre_tokenize(NormalizedString&& piece, std::vector<NormalizedString>& out) const override {
    split_on_classes(piece, classes_, behavior_, out);
  }

 private:
  uint16_t classes_;
  SplitBehavior behavior_;
};

class CharDelimiterPreTokenizer final : public PreTokenizer {
 public:
  explicit CharDelimiterPreTokenizer(std::string delimiter) : delimiter_(std::move(delimiter)) {}
  void pre_tokenize(NormalizedString&& piece, std::vector<NormalizedString>& out) const override {
    std::vector<MatchSpan> matches;
    SplitPattern(delimiter_).find(piece.text(), matches);
    std::vector<Segment> segments;
    segments_from_matches(matches, piece.size(), false, segments);
    split_into(piece, segments, SplitBehavior::kRemoved, out);
  }

 private:
  std::string delimiter_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(SplitPattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(NormalizedString&& piece, std::vector<NormalizedString>& out) const override {
    std::vector<MatchSpan> matches;
    pattern_.find(piece.text(), matches);
    std::vector<Segment> segments;
    segments_from_matches(matches, piece.size(), invert_, segments);
    split_into(piece, segments, behavior_, out);
  }

 private:
  SplitPattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(char32_t replacement, PrependScheme scheme, bool split)
      : scheme_(scheme), split_(split) {
    append_utf8(replacement, replacement_);
  }

  void pre_tokenize(NormalizedString&& piece, std::vector<NormalizedString>& out) const override {
    if (piece.text().find(' ') != std::string::npos) {
      const std::string& s = piece.text();
      TextBuilder builder(s.size() + 8 * 2);
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == ' ') {
          builder.put_bytes(replacement_, piece.origins()[i]);
        } else {
          builder.put_byte(s[i], piece.origins()[i]);
        }
      }
      builder.commit(piece);
    }
    const bool starts_with_replacement = piece.text().starts_with(replacement_);
    if (!starts_with_replacement &&
        (scheme_ == PrependScheme::kAlways ||
         (scheme_ == PrependScheme::kFirst && piece.original_shift() == 0))) {
      prepend_to_first_char(piece, replacement_);
    }
    if (!split_) {
      if (!piece.empty()) out.push_back(std::move(piece));
      return;
    }
    std::vector<MatchSpan> matches;
    for (size_t at = 0; (at = piece.text().find(replacement_, at)) != std::string::npos;
         at += replacement_.size()) {
      matches.push_back({at, at + replacement_.size()});
    }
    std::vector<Segment> segments;
    segments_from_matches(matches, piece.size(), false, segments);
    split_into(piece, segments, SplitBehavior::kMergedWithNext, out);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

// Renders every byte of the piece as GPT-2's byte-level character, each keeping the origin of the
// character it came from.
NormalizedString map_bytes(const NormalizedString& piece) {
  TextBuilder builder(piece.size() * 2);
  const std::string& s = piece.text();
  for (size_t i = 0; i < s.size(); ++i) {
    builder.put(kByteToChar[static_cast<unsigned char>(s[i])], piece.origins()[i]);
  }
  NormalizedString mapped;
  builder.commit(mapped);
  mapped.set_original_shift(piece.original_shift());
  return mapped;
}

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}

  void pre_tokenize(NormalizedString&& piece, std::vector<NormalizedString>& out) const override {
    if (add_prefix_space_ && !piece.text().starts_with(' ')) prepend_to_first_char(piece, " ");
    if (piece.empty()) return;
    if (!use_regex_) {
      out.push_back(map_bytes(piece));
      return;
    }
    std::vector<MatchSpan> matches;
    gpt2_split(piece.text(), matches);
    for (const MatchSpan& m : matches) {
      if (m.end > m.begin) out.push_back(map_bytes(piece.slice(m.begin, m.end)));
    }
  }

 private:
  bool add_prefix_space_;
  bool use_regex_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps)
      : steps_(std::move(steps)) {}

  void pre_tokenize(NormalizedString&& piece, std::vector<NormalizedString>& out) const override {
    std::vector<NormalizedString> current;
    current.push_back(std::move(piece));
    std::vector<NormalizedString> next;
    for (const auto& step : steps_) {
      next.clear();
      for (NormalizedString& p : current) step->pre_tokenize(std::move(p), next);
      current.swap(next);
    }
    for (NormalizedString& p : current) out.push_back(std::move(p));
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

char32_t single_char(const JsonNode& node) {
  const std::string text = node.as_string();
  size_t i = 0;
  const char32_t c = text.empty() ? 0 : decode_utf8(text, i);
  if (text.empty() || i != text.size())
    node.fail("expected a single character, found '" + text + "'");
  return c;
}

std::unique_ptr<PreTokenizer> make_metaspace(const JsonNode& node) {
  const char32_t replacement = single_char(node.at("replacement"));
  PrependScheme scheme = PrependScheme::kAlways;
  if (auto field = node.find("prepend_scheme")) {
    const std::string name = field->as_string();
    if (name == "always") {
      scheme = PrependScheme::kAlways;
    } else if (name == "first") {
      scheme = PrependScheme::kFirst;
    } else if (name == "never") {
      scheme = PrependScheme::kNever;
    } else {
      field->fail("expected one of always, first, never, found '" + name + "'");
    }
  }
  // Files written before prepend_scheme existed say add_prefix_space instead.
  if (auto legacy = node.find("add_prefix_space"); legacy && !node.has("prepend_scheme")) {
    scheme = legacy->as_bool() ? PrependScheme::kAlways : PrependScheme::kNever;
  }
  return std::make_unique<MetaspacePreTokenizer>(replacement, scheme, node.get_bool("split", true));
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const JsonNode& node) {
  node.expect_object();
  const std::string type = node.at("type").as_string();
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "Whitespace") {
    return std::make_unique<RunPreTokenizer>(uc::kRegexSpace, uc::kRegexWord);
  }
  if (type == "WhitespaceSplit") return std::make_unique<RunPreTokenizer>(uc::kWhitespace, 0);
  if (type == "Punctuation") {
    const auto behavior = node.find("behavior");
    return std::make_unique<ClassSplitPreTokenizer>(
        uc::kPunctuation, behavior ? parse_split_behavior(*behavior) : SplitBehavior::kIsolated);
  }
  if (type == "Digits") {
    return std::make_unique<ClassSplitPreTokenizer>(
        uc::kNumeric, node.get_bool("individual_digits", false) ? SplitBehavior::kIsolated
                                                                : SplitBehavior::kContiguous);
  }
  if (type == "CharDelimiterSplit") {
    std::string delimiter;
    append_utf8(single_char(node.at("delimiter")), delimiter);
    return std::make_unique<CharDelimiterPreTokenizer>(std::move(delimiter));
  }
  if (type == "Metaspace") return make_metaspace(node);
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(node.get_bool("add_prefix_space", true),
                                                   node.get_bool("use_regex", true));
  }
  if (type == "Split") {
    return std::make_unique<SplitPreTokenizer>(SplitPattern::from_json(node.at("pattern")),
                                               parse_split_behavior(node.at("behavior")),
                                               node.get_bool("invert", false));
  }
  if (type == "Sequence") {
    const JsonNode list = node.at("pretokenizers");
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (size_t k = 0; k < list.array_size(); ++k) steps.push_back(make_pre_tokenizer(list.at(k)));
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  node.at("type").unsupported("pre-tokenizer type '" + type + "' is not supported");
}

}  // namespace embedrt::tokenizer
