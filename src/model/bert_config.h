// The hyper-parameters of a BERT-family encoder, read from a Hugging Face config.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "kernels/cpu/activation.h"

namespace embedrt::model {

struct BertConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t intermediate_size = 0;
  kernels::Activation hidden_act = kernels::Activation::kGeluErf;
  double layer_norm_eps = 1e-12;
  int64_t max_position_embeddings = 0;
  int64_t type_vocab_size = 0;

  int64_t head_dim() const noexcept { return hidden_size / num_attention_heads; }
};

// Parses config.json text; `file` names it in errors ("<file>: <field>: <what>"). Unknown
// architectures, activations or position embedding types throw kUnsupported; missing or
// ill-typed fields throw kInvalidModel.
BertConfig parse_bert_config(const std::string& json_text, const std::string& file);

// Reads and parses a config.json file (kIo when it cannot be read).
BertConfig load_bert_config(const std::filesystem::path& path);

}  // namespace embedrt::model
