// Sequence-classification heads (cross-encoders / rerankers) on top of the transformer encoder, as
// transformers' <Family>ForSequenceClassification defines them: a pooled token (or the mean of the
// tokens), a dense layer with its activation, optionally a LayerNorm, and the projection to the
// labels. Which head a family has is data (a layout per model_type), like the encoder's spec.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "model/transformer_spec.h"

namespace embedrt::model {

enum class HeadActivation { kTanh, kRelu, kGeluErf, kGeluTanh, kSilu };
enum class HeadPooling { kFirst, kMean };

struct ClassifierHeadSpec {
  std::vector<std::string> labels;  // id2label in id order; its size is the number of labels
  HeadPooling pooling = HeadPooling::kFirst;  // the first token, or the mean of all tokens
  // The pooled vector's dense layer: "<name>.weight" [hidden, hidden] and "<name>.bias".
  std::string dense;
  bool dense_in_encoder = false;  // the name is under the encoder's prefix (BERT's pooler)
  bool dense_bias = true;
  HeadActivation activation = HeadActivation::kTanh;
  // A LayerNorm after the activation (ModernBERT): "<name>.weight" and, with norm_bias,
  // "<name>.bias". Empty: none.
  std::string norm;
  bool norm_bias = true;
  double norm_eps = 1e-5;
  std::string out;  // [labels, hidden] projection, at the checkpoint's top level

  int64_t num_labels() const noexcept { return int64_t(labels.size()); }
};

// Reads the head from config.json text (num_labels / id2label, and ModernBERT's classifier_pooling,
// classifier_activation, classifier_bias) for the encoder's family. Throws kUnsupported naming the
// file and model_type for a family without a head layout or the field of an unsupported option,
// kInvalidModel for inconsistent label fields.
ClassifierHeadSpec parse_classifier_head(const std::string& json_text, const std::string& file,
                                         const TransformerSpec& encoder);

class ClassifierHead {
 public:
  // Loads the head's tensors; `encoder_prefix` is what the file puts before the encoder's names
  // (detect_encoder_prefix). A missing or mis-shaped tensor is a one-line kInvalidModel error.
  ClassifierHead(const ClassifierHeadSpec& spec, const TransformerSpec& encoder,
                 const SafeTensorsFile& file, const std::string& encoder_prefix);

  const ClassifierHeadSpec& spec() const noexcept { return spec_; }

  // logits[s * num_labels + k] for every sequence s of the packed batch: the head applied to the
  // sequence's pooled tokens of `hidden` [tokens, hidden_size].
  void forward(std::span<const float> hidden, std::span<const int32_t> offsets,
               float* logits) const;

 private:
  ClassifierHeadSpec spec_;
  int64_t hidden_size_ = 0;
  std::vector<float> dense_weight_, dense_bias_, norm_weight_, norm_bias_, out_weight_, out_bias_;
};

}  // namespace embedrt::model
