#include "tokenizer/split_pattern.h"

#include <algorithm>

namespace embedrt::tokenizer {

SplitPattern SplitPattern::from_json(const JsonNode& node) {
  node.expect_object();
  if (auto literal = node.find("String")) return SplitPattern(literal->as_string());
  if (auto regex = node.find("Regex")) {
    return SplitPattern(Regex(regex->as_string(), node.file() + ": " + regex->path()));
  }
  node.fail("expected an object with a 'String' or 'Regex' field");
}

SplitPattern::SplitPattern(std::string literal) : literal_(std::move(literal)) {
  // An empty literal matches the empty string everywhere, like HF's escaped regex does.
  if (literal_.empty()) regex_.emplace("", "empty split pattern");
}

void SplitPattern::find(std::string_view text, std::vector<MatchSpan>& out) const {
  if (regex_) {
    regex_->find_all(text, out);
    return;
  }
  size_t at = 0;
  while ((at = text.find(literal_, at)) != std::string_view::npos) {
    out.push_back({at, at + literal_.size()});
    at += literal_.size();
  }
}

SplitBehavior parse_split_behavior(const JsonNode& node) {
  const std::string name = node.as_string();
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  node.fail(
      "expected one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous, "
      "found '" +
      name + "'");
}

void segments_from_matches(const std::vector<MatchSpan>& matches, size_t size, bool invert,
                           std::vector<Segment>& out) {
  if (size == 0) {
    out.push_back({0, 0, invert});
    return;
  }
  size_t previous = 0;
  for (const MatchSpan& m : matches) {
    if (m.begin != previous) out.push_back({previous, m.begin, invert});
    out.push_back({m.begin, m.end, !invert});
    previous = m.end;
  }
  if (previous != size) out.push_back({previous, size, invert});
}

void split_into(const NormalizedString& piece, const std::vector<Segment>& segments,
                SplitBehavior behavior, std::vector<NormalizedString>& out) {
  struct Range {
    size_t begin;
    size_t end;
  };
  std::vector<Range> ranges;
  ranges.reserve(segments.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Segment& s : segments) {
        if (!s.is_match) ranges.push_back({s.begin, s.end});
      }
      break;
    case SplitBehavior::kIsolated:
      for (const Segment& s : segments) ranges.push_back({s.begin, s.end});
      break;
    case SplitBehavior::kContiguous:
      for (const Segment& s : segments) {
        if (s.is_match == previous_match && !ranges.empty()) {
          ranges.back().end = s.end;
        } else {
          ranges.push_back({s.begin, s.end});
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && !ranges.empty()) {
          ranges.back().end = s.end;
        } else {
          ranges.push_back({s.begin, s.end});
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->is_match && !previous_match && !ranges.empty()) {
          ranges.back().begin = it->begin;
        } else {
          ranges.push_back({it->begin, it->end});
        }
        previous_match = it->is_match;
      }
      std::reverse(ranges.begin(), ranges.end());
      break;
  }
  for (const Range& r : ranges) {
    if (r.end > r.begin) out.push_back(piece.slice(r.begin, r.end));
  }
}

}  // namespace embedrt::tokenizer
