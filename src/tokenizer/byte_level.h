// GPT-2's reversible byte-to-character mapping used by ByteLevel normalizers, pre-tokenizers
// and decoders: printable bytes map to themselves, the others to U+0100 and up.
#pragma once

#include <array>
#include <cstdint>

namespace embedrt::tokenizer {

// kByteToChar[b] is the character byte `b` is rendered as.
extern const std::array<char32_t, 256> kByteToChar;

}  // namespace embedrt::tokenizer
