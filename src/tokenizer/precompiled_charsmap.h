// SentencePiece's precompiled_charsmap: a darts-clone double-array trie over UTF-8 byte strings
// whose values are offsets of NUL-terminated replacements in a string pool. The blob layout is
// [u32 little-endian trie byte size][trie units][pool].
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace embedrt::tokenizer {

class PrecompiledCharsmap {
 public:
  // Throws kInvalidModel naming `where` when the blob is malformed.
  PrecompiledCharsmap(std::string_view blob, const std::string& where);

  // Replacement for the shortest prefix of `chunk` present in the trie (the first result of
  // darts' common-prefix search, as HF's spm_precompiled uses), or nullopt when none matches.
  std::optional<std::string_view> transform(std::string_view chunk) const;

 private:
  std::vector<uint32_t> units_;
  std::string pool_;
};

// Decodes standard base64 (with or without padding); throws kInvalidModel naming `where`.
std::string decode_base64(std::string_view text, const std::string& where);

}  // namespace embedrt::tokenizer
