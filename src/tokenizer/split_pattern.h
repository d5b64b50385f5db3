// What Split pre-tokenizers and Replace normalizers search for, and how HF's
// NormalizedString::split turns matches into pieces.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_reader.h"
#include "tokenizer/normalized_string.h"
#include "tokenizer/regex.h"

namespace embedrt::tokenizer {

// {"String": "..."} (a literal) or {"Regex": "..."} (Oniguruma syntax).
class SplitPattern {
 public:
  static SplitPattern from_json(const JsonNode& node);
  explicit SplitPattern(std::string literal);
  explicit SplitPattern(Regex regex) : regex_(std::move(regex)) {}

  // Non-overlapping matches, left to right.
  void find(std::string_view text, std::vector<MatchSpan>& out) const;

 private:
  std::string literal_;
  std::optional<Regex> regex_;
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Parses "Removed", "Isolated", ...; throws kInvalidModel naming the node otherwise.
SplitBehavior parse_split_behavior(const JsonNode& node);

// One segment of a text: a match of the pattern or the text between two matches.
struct Segment {
  size_t begin;
  size_t end;
  bool is_match;
};

// Covers [0, size) with the matches and the gaps between them, as HF's Pattern::find_matches.
void segments_from_matches(const std::vector<MatchSpan>& matches, size_t size, bool invert,
                           std::vector<Segment>& out);

// Appends the pieces HF's NormalizedString::split produces for `segments` under `behavior`;
// empty pieces are dropped.
void split_into(const NormalizedString& piece, const std::vector<Segment>& segments,
                SplitBehavior behavior, std::vector<NormalizedString>& out);

}  // namespace embedrt::tokenizer
