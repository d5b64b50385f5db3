// Tokenization exactly as embedrt's encoder sees it: the model folder's tokenizer.json plus the
// sentence-transformers preprocessing (strip, optional lowercase, prompt) and maximum length.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "embedrt/encoding.h"

namespace embedrt {

// Which end of a too-long text loses tokens (special tokens are always kept).
enum class TruncationSide { kRight, kLeft };

struct TextTokenizerOptions {
  // Apply tokenizer.json alone: no stripping or lowercasing, and tokenizer.json's own truncation
  // (unless max_length is set).
  bool raw = false;
  // Maximum tokens per text including special tokens; 0 = the model's limit (sentence-transformers'
  // max_seq_length, capped by the position-embedding limit). Like max_seq_length, it may be set
  // above the configured limit, up to config.json's max_position_embeddings.
  size_t max_length = 0;
  // Threads used by tokenize_batch; 0 = all cores.
  int threads = 0;
};

class TextTokenizer {
 public:
  // `model` is a model folder, the name of one under $EMBEDRT_HOME/models or a Hugging Face id
  // (see resolve_model_dir).
  static TextTokenizer load(const std::string& model, const TextTokenizerOptions& options = {});

  // Preprocesses and tokenizes one text; `prompt` is prepended as sentence-transformers does.
  Encoding tokenize(std::string_view text, std::string_view prompt = {},
                    TruncationSide side = TruncationSide::kRight) const;
  std::vector<Encoding> tokenize_batch(std::span<const std::string> texts,
                                       std::string_view prompt = {},
                                       TruncationSide side = TruncationSide::kRight) const;

  // The text exactly as it reaches tokenizer.json's pipeline.
  std::string preprocess(std::string_view text, std::string_view prompt = {}) const;

  size_t max_length() const noexcept;  // 0 when raw without a limit
  size_t vocab_size() const;
  const std::filesystem::path& model_dir() const noexcept;

  TextTokenizer(TextTokenizer&&) noexcept;
  TextTokenizer& operator=(TextTokenizer&&) noexcept;
  ~TextTokenizer();

  struct Impl;  // defined in the library; public so that the library's own layers can share it

  const Impl& impl() const noexcept { return *impl_; }

 private:
  explicit TextTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Resolves a model argument: an existing folder is used as is; otherwise a bare name is looked up
// in $EMBEDRT_HOME/models (default ~/.cache/embedrt/models), then a Hugging Face id
// `org/name[@revision]` in the local Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
// ~/.cache/huggingface/hub). Throws kIo naming every place looked at.
std::filesystem::path resolve_model_dir(const std::string& model);

}  // namespace embedrt
