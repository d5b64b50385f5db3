// The sentence-transformers modules embedrt runs besides Transformer and Pooling: StaticEmbedding,
// an input module that averages per-token vectors (no transformer), and the modules after pooling
// (Dense, LayerNorm, Normalize), applied to pooled vectors in modules.json order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/model_folder.h"

namespace embedrt::model {

// The torch.nn activation classes a Dense module may name (sentence-transformers instantiates
// any torch.* class with no arguments; these are the ones that make sense after a Linear).
enum class DenseActivation { kIdentity, kTanh, kRelu, kGelu, kSilu, kSigmoid };

struct DenseConfig {
  int64_t in_features = 0;
  int64_t out_features = 0;
  bool bias = true;
  DenseActivation activation = DenseActivation::kTanh;  // sentence-transformers' default
  bool use_residual = false;  // out += x, or x projected by residual.weight when sizes differ
};

// Parses a Dense module's config.json; errors name `file` and the field.
DenseConfig parse_dense_config(const std::string& json_text, const std::string& file);

// A LayerNorm module's config.json: {"dimension": N}.
int64_t parse_layer_norm_dimension(const std::string& json_text, const std::string& file);

// The modules after pooling, loaded with their weights.
class OutputChain {
 public:
  OutputChain();
  ~OutputChain();
  OutputChain(OutputChain&&) noexcept;
  OutputChain& operator=(OutputChain&&) noexcept;

  // Loads `modules` for pooled vectors of `input_dimension`: each module's config.json and
  // model.safetensors, checked against the dimension the module before it gives. Errors name the
  // file and the field or tensor.
  static OutputChain load(std::span<const OutputModule> modules, int64_t input_dimension);

  bool empty() const noexcept;
  int64_t input_dimension() const noexcept { return input_dimension_; }
  int64_t output_dimension() const noexcept { return output_dimension_; }
  size_t parameters() const noexcept;
  // e.g. "Dense(32->48, tanh) -> Dense(48->24) -> Normalize"; empty for no modules.
  std::string describe() const;

  // out [rows, output_dimension()] from in [rows, input_dimension()]. Rows are independent: a
  // row's result does not depend on the others. `in` and `out` must not overlap.
  void forward(const float* in, int64_t rows, float* out) const;

 private:
  struct Step;
  std::vector<std::unique_ptr<Step>> steps_;
  int64_t input_dimension_ = 0;
  int64_t output_dimension_ = 0;
};

// StaticEmbedding: model.safetensors holds embedding.weight [vocab, dim] (or model2vec's
// "embeddings"); a text's vector is the mean of its tokens' rows, as torch.nn.EmbeddingBag
// computes it, and zeros for a text without tokens.
class StaticEmbedding {
 public:
  // Reads `dir`/model.safetensors; errors name the file and tensor.
  static StaticEmbedding load(const std::filesystem::path& dir);

  int64_t vocab_size() const noexcept { return rows_; }
  int64_t dimension() const noexcept { return dimension_; }
  const std::string& weight_dtype() const noexcept { return weight_dtype_; }
  size_t weight_bytes() const noexcept { return table_.size() * sizeof(float); }

  // out [offsets.size() - 1, dimension()]: the mean of the rows of ids[offsets[s], offsets[s+1]).
  // Ids must lie in [0, vocab_size()) (the caller checks them against the tokenizer).
  void embed(std::span<const int32_t> ids, std::span<const int32_t> offsets, float* out) const;

 private:
  std::vector<float> table_;
  int64_t rows_ = 0;
  int64_t dimension_ = 0;
  std::string weight_dtype_;
};

}  // namespace embedrt::model
