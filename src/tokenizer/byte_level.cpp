#include "tokenizer/byte_level.h"

namespace embedrt::tokenizer {
namespace {

constexpr bool is_printable_byte(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

constexpr std::array<char32_t, 256> make_byte_to_char() {
  std::array<char32_t, 256> out{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) out[b] = is_printable_byte(b) ? char32_t(b) : next++;
  return out;
}

}  // namespace

constexpr std::array<char32_t, 256> kByteToChar = make_byte_to_char();

}  // namespace embedrt::tokenizer
