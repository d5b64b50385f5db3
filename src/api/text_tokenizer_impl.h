// Internal state of embedrt::TextTokenizer, shared with the Embedder.
#pragma once

#include "embedrt/text_tokenizer.h"
#include "model/model_folder.h"
#include "tokenizer/tokenizer.h"

namespace embedrt {

struct TextTokenizer::Impl {
  model::ModelFolder folder;
  tokenizer::Tokenizer tokenizer;
  tokenizer::Tokenizer left_truncating;  // the same pipeline, truncating on the left
  TextTokenizerOptions options;
  size_t max_length = 0;
  // StaticEmbedding models tokenize as their module does: the text as given (no strip, no
  // lowercasing), no special tokens, tokenizer.json's own truncation.
  bool static_embedding = false;

  Impl(model::ModelFolder folder_in, tokenizer::Tokenizer tokenizer_in,
       TextTokenizerOptions options_in);

  void configure_truncation();

  const tokenizer::Tokenizer& for_side(TruncationSide side) const {
    return side == TruncationSide::kLeft ? left_truncating : tokenizer;
  }
};

// The most tokens the model's position table covers (config.json's max_position_embeddings, less
// the family's position offset; 0 when absent).
size_t model_position_limit(const model::ModelFolder& folder);
// The model's own sequence limit as sentence-transformers computes it: max_seq_length, else the
// tokenizer's model_max_length, capped by the position limit (0 = none known).
size_t model_sequence_limit(const model::ModelFolder& folder, size_t position_limit);

}  // namespace embedrt
