// The result of tokenizing one text.
#pragma once

#include <cstdint>
#include <vector>

namespace embedrt {

// Half-open byte range [begin, end) into the text that was passed to encode(). Special tokens
// added by post-processing have the empty span {0, 0}.
struct ByteSpan {
  uint32_t begin = 0;
  uint32_t end = 0;
  friend bool operator==(const ByteSpan&, const ByteSpan&) = default;
};

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
  std::vector<uint8_t> special_tokens_mask;  // 1 for tokens added by the post-processor
  std::vector<ByteSpan> offsets;
  // Number of tokens dropped by truncation (0 when the text fitted).
  uint32_t truncated_tokens = 0;
  // Number of invalid UTF-8 sequences in the input that were replaced by U+FFFD.
  uint32_t replaced_invalid_utf8 = 0;

  size_t size() const noexcept { return ids.size(); }
};

}  // namespace embedrt
