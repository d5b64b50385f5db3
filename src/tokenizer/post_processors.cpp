// Post-processors: special tokens around a single sequence or a pair (cross-encoders), type ids,
// and the offset trimming of the byte-level family.
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "embedrt/error.h"
#include "tokenizer/components.h"
#include "tokenizer/normalized_string.h"
#include "tokenizer/unicode.h"

namespace embedrt::tokenizer {
namespace {

// Every processor transforms an Encoding in place so that Sequence can chain them.
class EncodingProcessor : public PostProcessor {
 public:
  void process(const std::vector<Token>& tokens, std::string_view original, bool add_special_tokens,
               Encoding& out) const final {
    out.ids.resize(tokens.size());
    out.offsets.resize(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
      out.ids[i] = tokens[i].id;
      out.offsets[i] = tokens[i].offsets;
    }
    out.type_ids.assign(tokens.size(), 0);
    out.special_tokens_mask.assign(tokens.size(), 0);
    apply(out, original, tokens, add_special_tokens);
  }
  // `tokens` are the sequence's tokens; `encoding` holds them first in the same order until a
  // processor adds special tokens.
  virtual void apply(Encoding& encoding, std::string_view original,
                     const std::vector<Token>& tokens, bool add_special_tokens) const = 0;

  // A pair as HF keeps it until the end: one encoding per sequence (the second with type id 1, as
  // HF encodes it), until a processor that adds special tokens merges them into `merged`.
  struct Pair {
    Encoding a, b;
    std::string_view original_a, original_b;
    const std::vector<Token>* tokens_a;
    const std::vector<Token>* tokens_b;
    std::optional<Encoding> merged;
  };
  void process_pair(const std::vector<Token>& a, std::string_view original_a,
                    const std::vector<Token>& b, std::string_view original_b,
                    bool add_special_tokens, Encoding& out) const final {
    Pair pair{from_tokens(a, 0), from_tokens(b, 1), original_a, original_b, &a, &b, {}};
    apply_pair(pair, add_special_tokens);
    if (pair.merged) {
      out = std::move(*pair.merged);
    } else {
      out = std::move(pair.a);
      append(out, pair.b);
    }
  }
  virtual void apply_pair(Pair& pair, bool add_special_tokens) const = 0;

  static Encoding from_tokens(const std::vector<Token>& tokens, int32_t type_id) {
    Encoding e;
    e.ids.resize(tokens.size());
    e.offsets.resize(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
      e.ids[i] = tokens[i].id;
      e.offsets[i] = tokens[i].offsets;
    }
    e.type_ids.assign(tokens.size(), type_id);
    e.special_tokens_mask.assign(tokens.size(), 0);
    return e;
  }
  // Appends `from`'s tokens to `to` (type ids and offsets as they are).
  static void append(Encoding& to, const Encoding& from) {
    to.ids.insert(to.ids.end(), from.ids.begin(), from.ids.end());
    to.type_ids.insert(to.type_ids.end(), from.type_ids.begin(), from.type_ids.end());
    to.special_tokens_mask.insert(to.special_tokens_mask.end(), from.special_tokens_mask.begin(),
                                  from.special_tokens_mask.end());
    to.offsets.insert(to.offsets.end(), from.offsets.begin(), from.offsets.end());
  }
};

void append_special(Encoding& e, int32_t id, int32_t type_id) {
  e.ids.push_back(id);
  e.type_ids.push_back(type_id);
  e.special_tokens_mask.push_back(1);
  e.offsets.push_back(ByteSpan{0, 0});
}

// HF's ByteLevel::process_offsets: moves each token's offsets past the whitespace characters at
// both ends of the token string. A byte-level model token spells every space byte of the original
// as one space character and no other whitespace, so counting space bytes at the ends of its
// original span gives HF's numbers without the token strings. An added token's string is its
// matched text (with the blanks lstrip/rstrip took in), where every Unicode whitespace character
// counts, with all its bytes.
struct Blanks {
  uint32_t chars = 0;
  uint32_t bytes = 0;
};

Blanks leading_whitespace(std::string_view s) {
  Blanks n;
  size_t i = 0;
  while (i < s.size()) {
    size_t next = i;
    if (!unicode::has(decode_utf8(s, next), unicode::kWhitespace)) break;
    ++n.chars;
    n.bytes += static_cast<uint32_t>(next - i);
    i = next;
  }
  return n;
}

Blanks trailing_whitespace(std::string_view s) {
  Blanks n;
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t next = start;
    if (!unicode::has(decode_utf8(s, next), unicode::kWhitespace)) break;
    ++n.chars;
    n.bytes += static_cast<uint32_t>(end - start);
    end = start;
  }
  return n;
}

void trim_offsets(Encoding& e, std::string_view original, const std::vector<Token>& tokens,
                  bool add_prefix_space) {
  const bool tokens_in_place = e.offsets.size() == tokens.size();
  for (size_t i = 0; i < e.offsets.size(); ++i) {
    ByteSpan& span = e.offsets[i];
    if (span.begin >= span.end || span.end > original.size()) continue;
    Blanks leading;
    Blanks trailing;
    if (tokens_in_place && tokens[i].added) {
      const std::string_view text = original.substr(span.begin, span.end - span.begin);
      leading = leading_whitespace(text);
      trailing = trailing_whitespace(text);
    } else {
      while (span.begin + leading.bytes < span.end && original[span.begin + leading.bytes] == ' ') {
        leading.chars = ++leading.bytes;
      }
      while (span.end - trailing.bytes > span.begin &&
             original[span.end - trailing.bytes - 1] == ' ') {
        trailing.chars = ++trailing.bytes;
      }
    }
    if (leading.bytes > 0) {
      const bool is_first = i == 0 || span.begin == 0;
      // A single leading space on the first token is the one the pre-tokenizer added.
      if (!(is_first && add_prefix_space && leading.chars == 1)) {
        span.begin = std::min(span.begin + leading.bytes, span.end);
      }
    }
    if (trailing.bytes > 0 && span.end >= trailing.bytes) {
      span.end = std::max(span.end - trailing.bytes, span.begin);
    }
  }
}

class ByteLevelProcessor final : public EncodingProcessor {
 public:
  ByteLevelProcessor(bool trim, bool add_prefix_space)
      : trim_(trim), add_prefix_space_(add_prefix_space) {}
  size_t added_tokens_single() const override { return 0; }
  size_t added_tokens_pair() const override { return 0; }
  void apply(Encoding& e, std::string_view original, const std::vector<Token>& tokens,
             bool) const override {
    if (trim_) trim_offsets(e, original, tokens, add_prefix_space_);
  }
  void apply_pair(Pair& p, bool) const override {
    // After a merge the offsets point into two texts; HF's chains trim before adding specials.
    if (!trim_ || p.merged) return;
    trim_offsets(p.a, p.original_a, *p.tokens_a, add_prefix_space_);
    trim_offsets(p.b, p.original_b, *p.tokens_b, add_prefix_space_);
  }

 private:
  bool trim_;
  bool add_prefix_space_;
};

// BertProcessing and RobertaProcessing: cls + sequence + sep, all type id 0. Pairs: BERT's
// cls A sep B sep (B and its sep type id 1); RoBERTa's cls A sep sep B sep (all type id 0).
class ClsSepProcessor final : public EncodingProcessor {
 public:
  ClsSepProcessor(int32_t cls, int32_t sep, bool trim, bool add_prefix_space, bool roberta)
      : cls_(cls), sep_(sep), trim_(trim), add_prefix_space_(add_prefix_space), roberta_(roberta) {}
  size_t added_tokens_single() const override { return 2; }
  size_t added_tokens_pair() const override { return roberta_ ? 4 : 3; }
  void apply_pair(Pair& p, bool add_special_tokens) const override {
    if (p.merged) return;
    if (trim_) {
      trim_offsets(p.a, p.original_a, *p.tokens_a, add_prefix_space_);
      trim_offsets(p.b, p.original_b, *p.tokens_b, add_prefix_space_);
    }
    const int32_t second_type = roberta_ ? 0 : 1;
    if (!add_special_tokens) {
      std::fill(p.b.type_ids.begin(), p.b.type_ids.end(), second_type);
      return;
    }
    Encoding out;
    append_special(out, cls_, 0);
    std::fill(p.a.type_ids.begin(), p.a.type_ids.end(), 0);
    append(out, p.a);
    append_special(out, sep_, 0);
    if (roberta_) append_special(out, sep_, second_type);
    std::fill(p.b.type_ids.begin(), p.b.type_ids.end(), second_type);
    append(out, p.b);
    append_special(out, sep_, second_type);
    p.merged = std::move(out);
  }
  void apply(Encoding& e, std::string_view original, const std::vector<Token>& tokens,
             bool add_special_tokens) const override {
    if (trim_) trim_offsets(e, original, tokens, add_prefix_space_);
    if (!add_special_tokens) return;
    Encoding out;
    out.ids.reserve(e.ids.size() + 2);
    append_special(out, cls_, 0);
    out.ids.insert(out.ids.end(), e.ids.begin(), e.ids.end());
    out.type_ids.resize(out.ids.size(), 0);
    out.special_tokens_mask.resize(out.ids.size(), 0);
    out.offsets.insert(out.offsets.end(), e.offsets.begin(), e.offsets.end());
    append_special(out, sep_, 0);
    out.truncated_tokens = e.truncated_tokens;
    out.replaced_invalid_utf8 = e.replaced_invalid_utf8;
    e = std::move(out);
  }

 private:
  int32_t cls_, sep_;
  bool trim_;
  bool add_prefix_space_;
  bool roberta_;
};

class TemplateProcessor final : public EncodingProcessor {
 public:
  struct Piece {
    bool is_sequence;
    std::vector<int32_t> ids;  // special token ids (empty for the sequence)
    int32_t type_id;
  };
  // A pair piece's `sequence` says which one it is: 0 for $A, 1 for $B (-1: special tokens).
  struct PairPiece {
    int sequence;
    std::vector<int32_t> ids;
    int32_t type_id;
  };
  TemplateProcessor(std::vector<Piece> pieces, std::vector<PairPiece> pair)
      : pieces_(std::move(pieces)), pair_(std::move(pair)) {}
  size_t added_tokens_single() const override {
    size_t n = 0;
    for (const Piece& p : pieces_) n += p.ids.size();
    return n;
  }
  size_t added_tokens_pair() const override {
    size_t n = 0;
    for (const PairPiece& p : pair_) n += p.ids.size();
    return n;
  }
  void apply_pair(Pair& p, bool add_special_tokens) const override {
    if (p.merged) return;
    Encoding out;
    for (const PairPiece& piece : pair_) {
      if (piece.sequence >= 0) {
        Encoding& e = piece.sequence == 0 ? p.a : p.b;
        std::fill(e.type_ids.begin(), e.type_ids.end(), piece.type_id);
        append(out, e);
      } else if (add_special_tokens) {
        for (const int32_t id : piece.ids) append_special(out, id, piece.type_id);
      }
    }
    p.merged = std::move(out);
  }
  void apply(Encoding& e, std::string_view, const std::vector<Token>&,
             bool add_special_tokens) const override {
    Encoding out;
    for (const Piece& p : pieces_) {
      if (p.is_sequence) {
        out.ids.insert(out.ids.end(), e.ids.begin(), e.ids.end());
        out.type_ids.insert(out.type_ids.end(), e.ids.size(), p.type_id);
        out.special_tokens_mask.insert(out.special_tokens_mask.end(), e.special_tokens_mask.begin(),
                                       e.special_tokens_mask.end());
        out.offsets.insert(out.offsets.end(), e.offsets.begin(), e.offsets.end());
      } else if (add_special_tokens) {
        for (const int32_t id : p.ids) append_special(out, id, p.type_id);
      }
    }
    out.truncated_tokens = e.truncated_tokens;
    out.replaced_invalid_utf8 = e.replaced_invalid_utf8;
    e = std::move(out);
  }

 private:
  std::vector<Piece> pieces_;
  std::vector<PairPiece> pair_;
};

class SequenceProcessor final : public EncodingProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<EncodingProcessor>> steps)
      : steps_(std::move(steps)) {}
  size_t added_tokens_single() const override {
    size_t n = 0;
    for (const auto& s : steps_) n += s->added_tokens_single();
    return n;
  }
  size_t added_tokens_pair() const override {
    size_t n = 0;
    for (const auto& s : steps_) n += s->added_tokens_pair();
    return n;
  }
  void apply_pair(Pair& p, bool add_special_tokens) const override {
    for (const auto& s : steps_) s->apply_pair(p, add_special_tokens);
  }
  void apply(Encoding& e, std::string_view original, const std::vector<Token>& tokens,
             bool add_special_tokens) const override {
    for (const auto& s : steps_) s->apply(e, original, tokens, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<EncodingProcessor>> steps_;
};

// ["[SEP]", 102] as used by BertProcessing / RobertaProcessing.
int32_t token_pair_id(const JsonNode& node) {
  if (!node.value().is_array() || node.array_size() != 2) {
    node.fail("expected a [token, id] pair, found " +
              std::string(describe_json_type(node.value())));
  }
  node.at(size_t{0}).as_string();
  const int64_t id = node.at(size_t{1}).as_int();
  if (id < 0 || id > INT32_MAX) node.at(size_t{1}).fail("expected a non-negative token id");
  return static_cast<int32_t>(id);
}

// One template piece: {"SpecialToken": {"id": "[CLS]", "type_id": 0}} or {"Sequence": {"id": "A",
// "type_id": 0}}, the only forms HF reads from tokenizer.json.
std::pair<bool, std::pair<std::string, int32_t>> parse_piece(const JsonNode& node) {
  node.expect_object();
  if (auto special = node.find("SpecialToken")) {
    return {false,
            {special->at("id").as_string(), static_cast<int32_t>(special->get_int("type_id", 0))}};
  }
  if (auto sequence = node.find("Sequence")) {
    const std::string id = sequence->at("id").as_string();
    if (id != "A" && id != "B") sequence->at("id").fail("expected 'A' or 'B', found '" + id + "'");
    return {true, {id, static_cast<int32_t>(sequence->get_int("type_id", 0))}};
  }
  node.fail("expected a 'SpecialToken' or 'Sequence' template piece");
}

std::unique_ptr<EncodingProcessor> make_template(const JsonNode& node) {
  const JsonNode pieces_node = node.at("single");
  const size_t n = pieces_node.array_size();
  std::map<std::string, std::vector<int32_t>> specials;
  if (auto map = node.find("special_tokens")) {
    map->expect_object();
    for (const auto& [name, value] : map->value().items()) {
      const JsonNode entry(value, map->file(), map->path() + "." + name);
      const JsonNode ids = entry.at("ids");
      std::vector<int32_t> list;
      for (size_t k = 0; k < ids.array_size(); ++k) {
        const int64_t id = ids.at(k).as_int();
        if (id < 0 || id > INT32_MAX) ids.at(k).fail("expected a non-negative token id");
        list.push_back(static_cast<int32_t>(id));
      }
      specials[name] = std::move(list);
    }
  }
  std::vector<TemplateProcessor::Piece> pieces;
  for (size_t k = 0; k < n; ++k) {
    const JsonNode piece_node = pieces_node.at(k);
    auto [is_sequence, content] = parse_piece(piece_node);
    if (is_sequence) {
      if (content.first == "B") piece_node.fail("the single-sequence template cannot use $B");
      pieces.push_back({true, {}, content.second});
      continue;
    }
    auto it = specials.find(content.first);
    if (it == specials.end()) {
      piece_node.fail("special token '" + content.first +
                      "' is not defined in the template's special_tokens");
    }
    pieces.push_back({false, it->second, content.second});
  }
  // The pair template (HF always writes one); without it a pair is A then B with no specials.
  std::vector<TemplateProcessor::PairPiece> pair;
  if (auto pair_node = node.find("pair")) {
    for (size_t k = 0; k < pair_node->array_size(); ++k) {
      const JsonNode piece_node = pair_node->at(k);
      auto [is_sequence, content] = parse_piece(piece_node);
      if (is_sequence) {
        pair.push_back({content.first == "A" ? 0 : 1, {}, content.second});
        continue;
      }
      auto it = specials.find(content.first);
      if (it == specials.end()) {
        piece_node.fail("special token '" + content.first +
                        "' is not defined in the template's special_tokens");
      }
      pair.push_back({-1, it->second, content.second});
    }
  } else {
    pair = {{0, {}, 0}, {1, {}, 1}};
  }
  return std::make_unique<TemplateProcessor>(std::move(pieces), std::move(pair));
}

std::unique_ptr<EncodingProcessor> make_step(const JsonNode& node, const TokenLookup& lookup) {
  node.expect_object();
  const std::string type = node.at("type").as_string();
  if (type == "TemplateProcessing") return make_template(node);
  if (type == "BertProcessing") {
    return std::make_unique<ClsSepProcessor>(token_pair_id(node.at("cls")),
                                             token_pair_id(node.at("sep")), false, false, false);
  }
  if (type == "RobertaProcessing") {
    return std::make_unique<ClsSepProcessor>(
        token_pair_id(node.at("cls")), token_pair_id(node.at("sep")),
        node.get_bool("trim_offsets", true), node.get_bool("add_prefix_space", true), true);
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelProcessor>(node.get_bool("trim_offsets", true),
                                                node.get_bool("add_prefix_space", true));
  }
  if (type == "Sequence") {
    const JsonNode list = node.at("processors");
    std::vector<std::unique_ptr<EncodingProcessor>> steps;
    for (size_t k = 0; k < list.array_size(); ++k) steps.push_back(make_step(list.at(k), lookup));
    return std::make_unique<SequenceProcessor>(std::move(steps));
  }
  node.at("type").unsupported("post-processor type '" + type + "' is not supported");
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const JsonNode& node,
                                                   const TokenLookup& lookup) {
  return make_step(node, lookup);
}

}  // namespace embedrt::tokenizer
