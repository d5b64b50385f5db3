// Arbitrary bytes as text for a small tokenizer that exercises added tokens (lstrip, rstrip,
// single_word, normalized), a normalizer, a pre-tokenizer, WordPiece and truncation. Checks the
// invariants every encoding must keep.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tokenizer/tokenizer.h"

namespace {

constexpr const char* kTokenizerJson = R"json({
  "version": "1.0",
  "truncation": {"direction": "Right", "max_length": 64, "strategy": "LongestFirst", "stride": 0},
  "added_tokens": [
    {"id": 0, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 1, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 2, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 3, "content": "<mask>", "single_word": false, "lstrip": true, "rstrip": true, "normalized": false, "special": true},
    {"id": 12, "content": "ab", "single_word": true, "lstrip": false, "rstrip": false, "normalized": true, "special": false}
  ],
  "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
  "pre_tokenizer": {"type": "BertPreTokenizer"},
  "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]},
  "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 20,
            "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "<mask>": 3, "a": 4, "##a": 5, "b": 6,
                      "##b": 7, "c": 8, "##c": 9, ".": 10, "\u00e9": 11}}
})json";

const embedrt::tokenizer::Tokenizer& tokenizer() {
  static const auto t = embedrt::tokenizer::Tokenizer::from_json(kTokenizerJson, "fuzz.json");
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const embedrt::Encoding e = tokenizer().encode(text);
  if (e.ids.size() > 64 || e.ids.size() < 2) std::abort();
  if (e.offsets.size() != e.ids.size() || e.type_ids.size() != e.ids.size() ||
      e.special_tokens_mask.size() != e.ids.size()) {
    std::abort();
  }
  for (size_t i = 0; i < e.ids.size(); ++i) {
    if (e.ids[i] < 0 || e.ids[i] > 12) std::abort();
    if (e.offsets[i].begin > e.offsets[i].end || e.offsets[i].end > size) std::abort();
  }
  return 0;
}
