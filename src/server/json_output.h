// Writing the bulk of a response body by hand: vectors of floats (shortest round-trip text via
// std::to_chars, which parses back to the same float) and base64 of little-endian float32.
// nlohmann::json would build a node per number; these append straight into one string.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace embedrt::server {

// Appends `[v0,v1,...]`. Non-finite values (never produced by the model) are written as 0 so
// that the body stays valid JSON.
void append_float_array(std::string& out, std::span<const float> values);

// Appends one float as append_float_array writes each value.
void append_float(std::string& out, float value);

// Appends the standard base64 (with padding) of `bytes`.
void append_base64(std::string& out, std::span<const uint8_t> bytes);
// The base64 of the floats as little-endian float32, as OpenAI's encoding_format=base64.
void append_base64_floats(std::string& out, std::span<const float> values);
// Decodes standard base64; returns false on a malformed input (used by tests and tools).
bool decode_base64(std::string_view text, std::string& out);

// Appends `text` as a JSON string literal (quotes included). Invalid UTF-8 (which error messages
// can quote from a request: its path, the bytes a parse error stopped at) is replaced by U+FFFD,
// so that the response stays valid JSON.
void append_json_string(std::string& out, std::string_view text);

}  // namespace embedrt::server
