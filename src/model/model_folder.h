// The sentence-transformers side of a model folder: which modules it chains (modules.json), its
// preprocessing and length limit (sentence_bert_config.json, tokenizer_config.json) and its prompts
// (config_sentence_transformers.json, also truncate_dim). Weights and pooling are read by their own modules.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace embedrt::model {

struct ModelFolder {
  std::filesystem::path dir;
  std::filesystem::path transformer_dir;  // where config.json, tokenizer.json and weights live
  std::optional<std::filesystem::path> pooling_dir;
  bool normalize = false;  // the module chain ends with Normalize

  // sentence_bert_config.json
  std::optional<size_t> max_seq_length;
  bool do_lower_case = false;
  // tokenizer_config.json's model_max_length, when it is a real limit
  std::optional<size_t> tokenizer_max_length;

  // config_sentence_transformers.json
  std::map<std::string, std::string> prompts;
  std::string default_prompt_name;
  // Matryoshka truncation the model was saved with (sentence-transformers' truncate_dim).
  std::optional<size_t> truncate_dim;
};

// Reads the folder. A folder without modules.json is treated as a plain transformers model
// (Transformer module only). Unsupported modules (Dense, LayerNorm, ...) throw kUnsupported naming
// modules.json and the module's type.
ModelFolder read_model_folder(const std::filesystem::path& dir);

}  // namespace embedrt::model
