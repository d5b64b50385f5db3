// Arbitrary bytes as tokenizer.json: loading must either succeed or throw embedrt::Error, and a
// tokenizer that loads must encode a short text without crashing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "embedrt/error.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  try {
    const auto tokenizer = embedrt::tokenizer::Tokenizer::from_json(json, "fuzz.json");
    (void)tokenizer.encode("Hello, world! héllo <s> 123");
    (void)tokenizer.encode(json.substr(0, 64));
  } catch (const embedrt::Error&) {
  }
  return 0;
}
