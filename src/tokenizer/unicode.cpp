#include "tokenizer/unicode.h"

#include <algorithm>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace embedrt::tokenizer::unicode {
namespace {

#include "tokenizer/unicode_tables.inc"

struct ClassTable {
  std::span<const CodepointRange> ranges;
  CharClass cls;
};

constexpr ClassTable kTables[] = {
    {kBertControlRanges, kBertControl},
    {kWhitespaceRanges, kWhitespace},
    {kNonspacingMarkRanges, kNonspacingMark},
    {kPunctuationRanges, kPunctuation},
    {kNumericRanges, kNumeric},
    {kRegexWordRanges, kRegexWord},
    {kRegexSpaceRanges, kRegexSpace},
    {kRegexLetterRanges, kRegexLetter},
    {kRegexNumberRanges, kRegexNumber},
    {kStripAccentsMarkRanges, kStripAccentsMark},
};

constexpr std::array<uint16_t, 128> make_ascii_classes() {
  std::array<uint16_t, 128> out{};
  for (const ClassTable& table : kTables) {
    for (const CodepointRange& r : table.ranges) {
      for (char32_t c = r.lo; c <= r.hi && c < 128; ++c) out[c] |= table.cls;
    }
  }
  return out;
}

constexpr size_t kBlockBits = 8;
constexpr size_t kBlockSize = size_t{1} << kBlockBits;
constexpr size_t kBlocks = 0x110000 >> kBlockBits;

// Two-stage lookup: blocks of 256 code points with identical class patterns are shared.
class ClassLookup {
 public:
  ClassLookup() {
    std::vector<uint16_t> flat(0x110000, 0);
    for (const ClassTable& table : kTables) {
      for (const CodepointRange& r : table.ranges) {
        for (char32_t c = r.lo; c <= r.hi; ++c) flat[c] |= table.cls;
      }
    }
    std::unordered_map<std::u16string, uint16_t> seen;
    index_.resize(kBlocks);
    for (size_t b = 0; b < kBlocks; ++b) {
      std::u16string key(flat.begin() + b * kBlockSize, flat.begin() + (b + 1) * kBlockSize);
      auto [it, inserted] = seen.try_emplace(key, static_cast<uint16_t>(seen.size()));
      if (inserted) blocks_.insert(blocks_.end(), key.begin(), key.end());
      index_[b] = it->second;
    }
  }
  uint16_t get(char32_t c) const noexcept {
    if (c >= 0x110000) return 0;
    return blocks_[(size_t{index_[c >> kBlockBits]} << kBlockBits) | (c & (kBlockSize - 1))];
  }

 private:
  std::vector<uint16_t> index_;
  std::vector<uint16_t> blocks_;
};

const ClassLookup& class_lookup() {
  static const ClassLookup lookup;
  return lookup;
}

}  // namespace

constexpr std::array<uint16_t, 128> kAsciiClasses = make_ascii_classes();

uint16_t classes_of(char32_t c) noexcept { return class_lookup().get(c); }

size_t to_lowercase(char32_t c, char32_t out[3]) noexcept {
  if (c < 0x80) {
    out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    return 1;
  }
  const auto* end = std::end(kLowercaseEntries);
  const auto* it = std::lower_bound(std::begin(kLowercaseEntries), end, c,
                                    [](const LowercaseEntry& e, char32_t v) { return e.from < v; });
  if (it == end || it->from != c) {
    out[0] = c;
    return 1;
  }
  std::copy_n(it->to, it->length, out);
  return it->length;
}

}  // namespace embedrt::tokenizer::unicode
