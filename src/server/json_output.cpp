#include "server/json_output.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>

#include "tokenizer/utf8_repair.h"

namespace embedrt::server {
namespace {

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

void append_float_array(std::string& out, std::span<const float> values) {
  // Shortest round-trip float text is at most 15 characters ("-1.1754944e-38").
  const size_t start = out.size();
  out.resize(start + 2 + values.size() * 16);
  char* p = out.data() + start;
  char* const end = out.data() + out.size();
  *p++ = '[';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) *p++ = ',';
    const float v = std::isfinite(values[i]) ? values[i] : 0.0f;
    p = std::to_chars(p, end, v).ptr;
  }
  *p++ = ']';
  out.resize(static_cast<size_t>(p - out.data()));
}

void append_float(std::string& out, float value) {
  char buffer[32];
  const float v = std::isfinite(value) ? value : 0.0f;
  out.append(buffer, std::to_chars(buffer, buffer + sizeof(buffer), v).ptr);
}

void append_base64(std::string& out, std::span<const uint8_t> bytes) {
  const size_t start = out.size();
  out.resize(start + (bytes.size() + 2) / 3 * 4);
  char* p = out.data() + start;
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    *p++ = kBase64Alphabet[(v >> 18) & 63];
    *p++ = kBase64Alphabet[(v >> 12) & 63];
    *p++ = kBase64Alphabet[(v >> 6) & 63];
    *p++ = kBase64Alphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{bytes[i]} << 16;
    if (rest == 2) v |= uint32_t{bytes[i + 1]} << 8;
    *p++ = kBase64Alphabet[(v >> 18) & 63];
    *p++ = kBase64Alphabet[(v >> 12) & 63];
    *p++ = rest == 2 ? kBase64Alphabet[(v >> 6) & 63] : '=';
    *p++ = '=';
  }
}

void append_base64_floats(std::string& out, std::span<const float> values) {
  static_assert(std::endian::native == std::endian::little ||
                std::endian::native == std::endian::big);
  if constexpr (std::endian::native == std::endian::little) {
    append_base64(out, {reinterpret_cast<const uint8_t*>(values.data()), values.size_bytes()});
  } else {
    std::string bytes(values.size_bytes(), '\0');
    for (size_t i = 0; i < values.size(); ++i) {
      const uint32_t v = std::bit_cast<uint32_t>(values[i]);
      for (int b = 0; b < 4; ++b) bytes[i * 4 + b] = static_cast<char>((v >> (8 * b)) & 0xff);
    }
    append_base64(out, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  }
}

bool decode_base64(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 != 0) return false;
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else if (pad > 0 || (v[k] = base64_value(c)) < 0) {
        return false;
      }
    }
    const uint32_t bits =
        (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out.push_back(static_cast<char>((bits >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((bits >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(bits & 0xff));
  }
  return true;
}

void append_json_string(std::string& out, std::string_view text) {
  // Responses are UTF-8 whatever they quote (a request path, the bytes a JSON parse error
  // stopped at): invalid sequences become U+FFFD, as the CLI's input readers do.
  if (!tokenizer::is_valid_utf8(text)) {
    append_json_string(out, tokenizer::replace_invalid_utf8(text));
    return;
  }
  out.push_back('"');
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

}  // namespace embedrt::server
