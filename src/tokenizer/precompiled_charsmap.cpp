#include "tokenizer/precompiled_charsmap.h"

#include <cstring>

#include "embedrt/error.h"

namespace embedrt::tokenizer {
namespace {

uint32_t read_le32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// darts-clone unit layout.
bool has_leaf(uint32_t unit) { return ((unit >> 8) & 1) != 0; }
uint32_t value(uint32_t unit) { return unit & ((1u << 31) - 1); }
uint32_t label(uint32_t unit) { return unit & ((1u << 31) | 0xFF); }
uint32_t offset(uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); }

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string decode_base64(std::string_view text, const std::string& where) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = base64_value(c);
    if (v < 0) throw Error(ErrorCode::kInvalidModel, where + ": expected base64 data");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (bits >= 6) throw Error(ErrorCode::kInvalidModel, where + ": truncated base64 data");
  return out;
}

PrecompiledCharsmap::PrecompiledCharsmap(std::string_view blob, const std::string& where) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(blob.data());
  if (blob.size() < 4) {
    throw Error(ErrorCode::kInvalidModel, where + ": precompiled_charsmap is shorter than 4 bytes");
  }
  const uint32_t trie_bytes = read_le32(bytes);
  if (trie_bytes % 4 != 0 || trie_bytes < 4 || trie_bytes > blob.size() - 4) {
    throw Error(ErrorCode::kInvalidModel, where + ": precompiled_charsmap trie size " +
                                              std::to_string(trie_bytes) + " does not fit the " +
                                              std::to_string(blob.size()) + "-byte blob");
  }
  units_.resize(trie_bytes / 4);
  for (size_t i = 0; i < units_.size(); ++i) units_[i] = read_le32(bytes + 4 + 4 * i);
  pool_.assign(blob.substr(4 + trie_bytes));
}

std::optional<std::string_view> PrecompiledCharsmap::transform(std::string_view chunk) const {
  size_t node = offset(units_[0]);
  for (char ch : chunk) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0) break;
    node ^= c;
    // A malformed trie must not read out of bounds: treat it as "no match".
    if (node >= units_.size()) return std::nullopt;
    const uint32_t unit = units_[node];
    if (label(unit) != c) return std::nullopt;
    node ^= offset(unit);
    if (node >= units_.size()) return std::nullopt;
    if (has_leaf(unit)) {
      const size_t at = value(units_[node]);
      if (at > pool_.size()) return std::nullopt;
      const size_t nul = pool_.find('\0', at);
      return std::string_view(pool_).substr(at,
                                            (nul == std::string::npos ? pool_.size() : nul) - at);
    }
  }
  return std::nullopt;
}

}  // namespace embedrt::tokenizer
