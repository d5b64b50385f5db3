// The sentence-transformers side of a model folder: which modules it chains (modules.json), its
// preprocessing and length limit (sentence_bert_config.json, tokenizer_config.json) and its prompts
// (config_sentence_transformers.json, also truncate_dim). Weights and pooling are read by their own
// modules.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace embedrt::model {

// The module that turns token ids into embeddings: a transformer (then Pooling), or
// StaticEmbedding, a table of per-token vectors averaged over the text (no pooling module).
enum class InputModule { kTransformer, kStaticEmbedding };

// A module after pooling, in modules.json order.
struct OutputModule {
  enum class Kind { kDense, kLayerNorm, kNormalize };
  Kind kind;
  std::filesystem::path dir;  // its config.json and model.safetensors
};

struct ModelFolder {
  std::filesystem::path dir;
  InputModule input = InputModule::kTransformer;
  // The input module's folder: config.json (transformer), tokenizer.json and weights live here.
  std::filesystem::path transformer_dir;
  std::optional<std::filesystem::path> pooling_dir;
  // The modules between pooling and the end, less a final Normalize (that is `normalize`, which a
  // caller may switch off); a Normalize anywhere else stays in the chain.
  std::vector<OutputModule> output_modules;
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
// (Transformer module only). Module types are sentence-transformers class paths, under the names
// releases before 6 wrote (sentence_transformers.models.Dense) and those 6 writes
// (sentence_transformers.base.modules.dense.Dense); any other module, or one out of place, throws
// naming modules.json, the entry and the type.
ModelFolder read_model_folder(const std::filesystem::path& dir);

// The class name of a modules.json type inside the sentence_transformers package, under the old
// (sentence_transformers.models.Pooling) or new (....modules.pooling.Pooling) path; empty for
// a class of any other package (custom code).
std::string_view st_class_name(std::string_view type);

}  // namespace embedrt::model
