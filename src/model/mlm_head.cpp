#include "model/mlm_head.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "embedrt/error.h"
#include "kernels/cpu/layer_norm.h"
#include "model/json_file.h"

namespace embedrt::model {
namespace {

// Tokens whose vocabulary logits are held at once: 64 x 30,522 floats is 7.8 MB.
constexpr int64_t kChunkTokens = 64;

std::vector<float> tensor(const SafeTensorsFile& file, const std::string& name,
                          const std::vector<int64_t>& shape) {
  const auto it = file.tensors().find(name);
  if (it == file.tensors().end()) {
    throw Error(ErrorCode::kInvalidModel,
                file.path().string() + ": no tensor '" + name + "' (the masked-LM head)");
  }
  if (it->second.shape != shape) {
    throw Error(ErrorCode::kInvalidModel, file.path().string() + ": " + name +
                                              " does not have the shape config.json implies");
  }
  return file.to_float(name);
}

}  // namespace

MlmHeadNames mlm_head_names(const TransformerSpec& encoder, const std::string& file) {
  // transformers' BertOnlyMLMHead, RobertaLMHead and DistilBertForMaskedLM.
  if (encoder.model_type == "bert") {
    return {"cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm",
            "cls.predictions.decoder", "cls.predictions.bias"};
  }
  if (encoder.model_type == "roberta" || encoder.model_type == "xlm-roberta") {
    return {"lm_head.dense", "lm_head.layer_norm", "lm_head.decoder", "lm_head.bias"};
  }
  if (encoder.model_type == "distilbert") {
    return {"vocab_transform", "vocab_layer_norm", "vocab_projector", "vocab_projector.bias"};
  }
  throw Error(ErrorCode::kUnsupported, file + ": model_type: '" + encoder.model_type +
                                           "' has no masked-LM head here (supported: bert, "
                                           "roberta, xlm-roberta, distilbert)");
}

SpladeConfig parse_splade_config(const std::string& json_text, const std::string& file) {
  const nlohmann::json root = parse_json_object(json_text, file);
  SpladeConfig config;
  const auto read = [&](const char* field, const char* fallback) {
    const auto it = root.find(field);
    if (it == root.end() || it->is_null()) return std::string(fallback);
    if (!it->is_string()) {
      throw Error(ErrorCode::kInvalidModel, file + ": " + field + ": expected a string");
    }
    return it->get<std::string>();
  };
  const std::string strategy = read("pooling_strategy", "max");
  if (strategy == "sum") {
    config.strategy = SpladeStrategy::kSum;
  } else if (strategy != "max") {
    throw Error(ErrorCode::kUnsupported, file + ": pooling_strategy: '" + strategy +
                                             "' is not supported (expected max or sum)");
  }
  const std::string activation = read("activation_function", "relu");
  if (activation == "log1p_relu") {
    config.double_log = true;
  } else if (activation != "relu") {
    throw Error(ErrorCode::kUnsupported, file + ": activation_function: '" + activation +
                                             "' is not supported (expected relu or log1p_relu)");
  }
  return config;
}

namespace {

kernels::Linear make_dense(const TransformerSpec& e, const SafeTensorsFile& file,
                           const std::string& prefix, const MlmHeadNames& n,
                           kernels::Precision precision) {
  const int64_t h = e.hidden_size;
  const auto w = tensor(file, prefix + n.dense + ".weight", {h, h});
  const auto b = tensor(file, prefix + n.dense + ".bias", {h});
  return kernels::Linear({h, h, e.hidden_act, false, precision}, w.data(), b.data());
}

kernels::Linear make_decoder(const TransformerSpec& e, const SafeTensorsFile& file,
                             const std::string& prefix, const MlmHeadNames& n,
                             const std::vector<float>& word_embeddings,
                             kernels::Precision precision) {
  const int64_t h = e.hidden_size, v = e.vocab_size;
  const auto b = tensor(file, prefix + n.bias, {v});
  const std::string decoder = prefix + n.decoder + ".weight";
  if (file.contains(decoder)) {
    const auto w = tensor(file, decoder, {v, h});
    return kernels::Linear({h, v, kernels::Activation::kNone, false, precision}, w.data(),
                           b.data());
  }
  return kernels::Linear({h, v, kernels::Activation::kNone, false, precision},
                         word_embeddings.data(), b.data());
}

// The head sits beside the encoder: "cls." next to "bert.", "lm_head." next to "roberta.", or under
// the same "0.auto_model."-like prefix with the family part removed.
std::string head_prefix(const std::string& encoder_prefix, const TransformerSpec& e) {
  for (const std::string family : {"bert.", "roberta.", "distilbert."}) {
    if (encoder_prefix.size() >= family.size() &&
        encoder_prefix.compare(encoder_prefix.size() - family.size(), family.size(), family) == 0) {
      return encoder_prefix.substr(0, encoder_prefix.size() - family.size());
    }
  }
  return encoder_prefix;
}

}  // namespace

MlmHead::MlmHead(const TransformerSpec& e, const SafeTensorsFile& file,
                 const std::string& encoder_prefix, const std::vector<float>& word_embeddings,
                 kernels::Precision precision)
    : hidden_(e.hidden_size),
      vocab_(e.vocab_size),
      eps_(float(e.layer_norm_eps)),
      dense_(make_dense(e, file, head_prefix(encoder_prefix, e),
                        mlm_head_names(e, file.path().string()), precision)),
      decoder_(make_decoder(e, file, head_prefix(encoder_prefix, e),
                            mlm_head_names(e, file.path().string()), word_embeddings, precision)) {
  const MlmHeadNames n = mlm_head_names(e, file.path().string());
  const std::string prefix = head_prefix(encoder_prefix, e);
  norm_weight_ = tensor(file, prefix + n.norm + ".weight", {hidden_});
  norm_bias_ = tensor(file, prefix + n.norm + ".bias", {hidden_});
}

void MlmHead::splade(std::span<const float> hidden, std::span<const int32_t> offsets,
                     const SpladeConfig& config, float* out) const {
  const int64_t num_seqs = int64_t(offsets.size()) - 1;
  const int64_t tokens = offsets.empty() ? 0 : offsets.back();
  const float start =
      config.strategy == SpladeStrategy::kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
  std::fill(out, out + num_seqs * vocab_, start);
  std::vector<float> transformed(std::min(tokens, kChunkTokens) * hidden_);
  std::vector<float> logits(std::min(tokens, kChunkTokens) * vocab_);
  int64_t seq = 0;
  for (int64_t first = 0; first < tokens; first += kChunkTokens) {
    const int64_t n = std::min(kChunkTokens, tokens - first);
    dense_.forward(hidden.data() + first * hidden_, n, transformed.data());
    kernels::add_layer_norm(transformed.data(), nullptr, norm_weight_.data(), norm_bias_.data(),
                            eps_, n, hidden_, transformed.data());
    decoder_.forward(transformed.data(), n, logits.data());
    std::vector<int64_t> seq_of(n);
    for (int64_t t = 0; t < n; ++t) {
      while (first + t >= offsets[seq + 1]) ++seq;
      seq_of[t] = seq;
    }
    // One parallel region per chunk, over blocks of the vocabulary; every (sequence, id) is
    // pooled in token order, so the result does not depend on the thread count.
    constexpr int64_t kBlock = 1024;
#pragma omp parallel for schedule(static)
    for (int64_t block = 0; block < vocab_; block += kBlock) {
      const int64_t end = std::min(vocab_, block + kBlock);
      for (int64_t t = 0; t < n; ++t) {
        const float* row = logits.data() + t * vocab_;
        float* pooled = out + seq_of[t] * vocab_;
        for (int64_t v = block; v < end; ++v) {
          float x = std::log1p(std::max(row[v], 0.0f));
          if (config.double_log) x = std::log1p(x);
          pooled[v] =
              config.strategy == SpladeStrategy::kMax ? std::max(pooled[v], x) : pooled[v] + x;
        }
      }
    }
  }
  // A sequence without tokens pools nothing: zeros, not -inf.
  for (int64_t s = 0; s < num_seqs; ++s) {
    if (offsets[s + 1] == offsets[s]) std::fill(out + s * vocab_, out + (s + 1) * vocab_, 0.0f);
  }
}

}  // namespace embedrt::model
