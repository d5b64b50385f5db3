// The masked-LM head SPLADE models put on the encoder (transformers' <Family>ForMaskedLM head:
// dense + activation + LayerNorm, then the decoder tied to the word embeddings plus a bias), and
// sentence-transformers' SpladePooling over its logits. The head's tensor names are data per
// model_type.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "model/safetensors.h"
#include "model/transformer_spec.h"

namespace embedrt::model {

struct MlmHeadNames {
  std::string dense, norm;  // modules with .weight and .bias
  std::string decoder;      // "<name>.weight" [vocab, hidden]; absent: tied to the word embeddings
  std::string bias;         // [vocab]
};

// The head's names for the encoder's family; kUnsupported naming `file` for a family without one.
MlmHeadNames mlm_head_names(const TransformerSpec& encoder, const std::string& file);

enum class SpladeStrategy { kMax, kSum };

struct SpladeConfig {
  SpladeStrategy strategy = SpladeStrategy::kMax;
  bool double_log = false;  // activation_function "log1p_relu": log1p applied twice
};

// Parses 1_SpladePooling/config.json (pooling_strategy max|sum, activation_function
// relu|log1p_relu); errors name the file and field.
SpladeConfig parse_splade_config(const std::string& json_text, const std::string& file);

class MlmHead {
 public:
  // `word_embeddings` [vocab, hidden] serve as the decoder when the checkpoint ties them.
  MlmHead(const TransformerSpec& encoder, const SafeTensorsFile& file,
          const std::string& encoder_prefix, const std::vector<float>& word_embeddings,
          kernels::Precision precision);

  int64_t vocab_size() const noexcept { return vocab_; }

  // SPLADE vector per sequence: pool(log(1 + relu(logits))) over its tokens, into out [num_seqs,
  // vocab]. Works through the tokens in chunks, so the [tokens, vocab] logits are never all held.
  void splade(std::span<const float> hidden, std::span<const int32_t> offsets,
              const SpladeConfig& config, float* out) const;

 private:
  int64_t hidden_ = 0, vocab_ = 0;
  float eps_ = 1e-12f;
  kernels::Linear dense_;
  std::vector<float> norm_weight_, norm_bias_;
  kernels::Linear decoder_;
};

}  // namespace embedrt::model
