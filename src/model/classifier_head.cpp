#include "model/classifier_head.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "embedrt/error.h"
#include "model/json_file.h"

namespace embedrt::model {
namespace {

struct HeadLayout {
  std::string_view model_type;
  std::string_view dense;
  bool dense_in_encoder;
  HeadActivation activation;
  std::string_view out;
  // ModernBERT's configurable head: pooling, activation and dense bias from config.json
  // (classifier_pooling, classifier_activation, classifier_bias), then a LayerNorm shaped as the
  // encoder's (norm_eps, norm_bias).
  bool configurable = false;
  std::string_view norm = {};
};

// transformers' heads: BertForSequenceClassification (the pooler, then `classifier`),
// RobertaClassificationHead (`classifier.dense`, tanh, `classifier.out_proj`) for RoBERTa and
// XLM-RoBERTa, MPNetClassificationHead (the same), DistilBertForSequenceClassification
// (`pre_classifier`, ReLU, `classifier`), ModernBertForSequenceClassification (`head.dense`,
// activation, `head.norm` over the first token or the mean, then `classifier`).
constexpr HeadLayout kLayouts[] = {
    {"bert", "pooler.dense", true, HeadActivation::kTanh, "classifier"},
    {"roberta", "classifier.dense", false, HeadActivation::kTanh, "classifier.out_proj"},
    {"xlm-roberta", "classifier.dense", false, HeadActivation::kTanh, "classifier.out_proj"},
    {"mpnet", "classifier.dense", false, HeadActivation::kTanh, "classifier.out_proj"},
    {"distilbert", "pre_classifier", false, HeadActivation::kRelu, "classifier"},
    {"modernbert", "head.dense", false, HeadActivation::kGeluErf, "classifier", true, "head.norm"},
};

HeadActivation head_activation(kernels::Activation activation) {
  switch (activation) {
    case kernels::Activation::kRelu:
      return HeadActivation::kRelu;
    case kernels::Activation::kGeluTanh:
      return HeadActivation::kGeluTanh;
    case kernels::Activation::kSilu:
      return HeadActivation::kSilu;
    default:
      return HeadActivation::kGeluErf;
  }
}

double activate(HeadActivation activation, double x) {
  constexpr double kSqrt2OverPi = 0.7978845608028654;
  switch (activation) {
    case HeadActivation::kTanh:
      return std::tanh(x);
    case HeadActivation::kRelu:
      return std::max(x, 0.0);
    case HeadActivation::kGeluErf:
      return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case HeadActivation::kGeluTanh:
      return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
    case HeadActivation::kSilu:
      return x / (1.0 + std::exp(-x));
  }
  return x;
}

// The configurable head's fields, each named in errors.
void read_configurable(const nlohmann::json& root, const std::string& file,
                       const TransformerSpec& encoder, ClassifierHeadSpec& spec) {
  const auto string_field = [&](const char* field, const char* fallback) {
    const auto it = root.find(field);
    if (it == root.end() || it->is_null()) return std::string(fallback);
    if (!it->is_string()) {
      throw Error(ErrorCode::kInvalidModel,
                  file + ": " + field + ": expected a string, found " + it->dump());
    }
    return it->get<std::string>();
  };
  const std::string pooling = string_field("classifier_pooling", "cls");
  if (pooling == "mean") {
    spec.pooling = HeadPooling::kMean;
  } else if (pooling != "cls") {
    throw Error(ErrorCode::kUnsupported, file + ": classifier_pooling: '" + pooling +
                                             "' is not supported (expected cls or mean)");
  }
  spec.activation = head_activation(parse_activation_name(
      string_field("classifier_activation", "gelu"), file, "classifier_activation"));
  spec.dense_bias = false;
  if (const auto it = root.find("classifier_bias"); it != root.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      throw Error(ErrorCode::kInvalidModel,
                  file + ": classifier_bias: expected a boolean, found " + it->dump());
    }
    spec.dense_bias = it->get<bool>();
  }
  spec.norm_bias = encoder.norm_bias;
  spec.norm_eps = encoder.layer_norm_eps;
}

std::vector<std::string> parse_labels(const nlohmann::json& root, const std::string& file) {
  const auto fail = [&](const std::string& field, const std::string& what) {
    throw Error(ErrorCode::kInvalidModel, file + ": " + field + ": " + what);
  };
  std::vector<std::string> labels;
  if (const auto it = root.find("id2label"); it != root.end() && !it->is_null()) {
    if (!it->is_object() || it->empty()) fail("id2label", "expected a non-empty object");
    labels.resize(it->size());
    for (const auto& [key, value] : it->items()) {
      size_t id = 0;
      try {
        size_t used = 0;
        id = std::stoul(key, &used);
        if (used != key.size()) throw std::invalid_argument(key);
      } catch (const std::exception&) {
        fail("id2label", "key '" + key + "' is not a label id");
      }
      if (id >= labels.size() || !labels[id].empty() || !value.is_string()) {
        fail("id2label", "expected string labels with ids 0.." + std::to_string(labels.size() - 1));
      }
      labels[id] = value.get<std::string>();
    }
  }
  if (const auto it = root.find("num_labels"); it != root.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() <= 0) {
      fail("num_labels", "expected a positive integer, found " + it->dump());
    }
    const size_t n = it->get<size_t>();
    if (labels.empty()) {
      for (size_t k = 0; k < n; ++k) labels.push_back("LABEL_" + std::to_string(k));
    } else if (labels.size() != n) {
      fail("num_labels", std::to_string(n) + " contradicts id2label's " +
                             std::to_string(labels.size()) + " labels");
    }
  }
  // transformers' default: two labels.
  if (labels.empty()) labels = {"LABEL_0", "LABEL_1"};
  return labels;
}

std::vector<float> tensor(const SafeTensorsFile& file, const std::string& name,
                          const std::vector<int64_t>& shape) {
  const auto it = file.tensors().find(name);
  if (it == file.tensors().end()) {
    throw Error(ErrorCode::kInvalidModel,
                file.path().string() + ": no tensor '" + name + "' (the classification head)");
  }
  if (it->second.shape != shape) {
    std::string got, want;
    for (const int64_t d : it->second.shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
    for (const int64_t d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
    throw Error(ErrorCode::kInvalidModel, file.path().string() + ": " + name + " is [" + got +
                                              "], expected [" + want + "] from config.json");
  }
  return file.to_float(name);
}

}  // namespace

ClassifierHeadSpec parse_classifier_head(const std::string& json_text, const std::string& file,
                                         const TransformerSpec& encoder) {
  const nlohmann::json root = parse_json_object(json_text, file);
  for (const HeadLayout& layout : kLayouts) {
    if (layout.model_type != encoder.model_type) continue;
    ClassifierHeadSpec spec;
    spec.labels = parse_labels(root, file);
    spec.dense = layout.dense;
    spec.dense_in_encoder = layout.dense_in_encoder;
    spec.activation = layout.activation;
    spec.out = layout.out;
    spec.norm = layout.norm;
    if (layout.configurable) read_configurable(root, file, encoder, spec);
    return spec;
  }
  std::string known;
  for (const HeadLayout& layout : kLayouts) {
    known += (known.empty() ? "" : ", ") + std::string(layout.model_type);
  }
  throw Error(ErrorCode::kUnsupported,
              file + ": model_type: '" + encoder.model_type +
                  "' has no sequence-classification head here (supported: " + known + ")");
}

ClassifierHead::ClassifierHead(const ClassifierHeadSpec& spec, const TransformerSpec& encoder,
                               const SafeTensorsFile& file, const std::string& encoder_prefix)
    : spec_(spec), hidden_size_(encoder.hidden_size) {
  const int64_t h = hidden_size_, labels = spec.num_labels();
  const std::string dense = (spec.dense_in_encoder ? encoder_prefix : "") + spec.dense;
  dense_weight_ = tensor(file, dense + ".weight", {h, h});
  dense_bias_ = spec.dense_bias ? tensor(file, dense + ".bias", {h}) : std::vector<float>(h, 0.0f);
  if (!spec.norm.empty()) {
    norm_weight_ = tensor(file, spec.norm + ".weight", {h});
    norm_bias_ =
        spec.norm_bias ? tensor(file, spec.norm + ".bias", {h}) : std::vector<float>(h, 0.0f);
  }
  out_weight_ = tensor(file, spec.out + ".weight", {labels, h});
  out_bias_ = tensor(file, spec.out + ".bias", {labels});
}

void ClassifierHead::forward(std::span<const float> hidden, std::span<const int32_t> offsets,
                             float* logits) const {
  const int64_t h = hidden_size_, labels = spec_.num_labels();
  const int64_t num_seqs = int64_t(offsets.size()) - 1;
  for (int64_t s = 0; s < num_seqs; ++s) {
    if (offsets[s + 1] <= offsets[s]) {
      throw Error(ErrorCode::kInvalidArgument,
                  "classifier input: sequence " + std::to_string(s) + " has no token to pool");
    }
  }
  // A few hundred thousand multiply-adds per sequence, next to the encoder's millions: plain
  // loops in double, so a score does not depend on the batch.
#pragma omp parallel for schedule(static) if (num_seqs > 8)
  for (int64_t s = 0; s < num_seqs; ++s) {
    const int64_t begin = offsets[s], end = offsets[s + 1];
    std::vector<double> x(h, 0.0);
    if (spec_.pooling == HeadPooling::kFirst) {
      std::copy_n(hidden.data() + begin * h, h, x.begin());
    } else {
      for (int64_t t = begin; t < end; ++t) {
        const float* row = hidden.data() + t * h;
        for (int64_t c = 0; c < h; ++c) x[c] += row[c];
      }
      for (int64_t c = 0; c < h; ++c) x[c] /= double(end - begin);
    }
    std::vector<double> pooled(h);
    for (int64_t r = 0; r < h; ++r) {
      double sum = dense_bias_[r];
      const float* w = dense_weight_.data() + r * h;
      for (int64_t c = 0; c < h; ++c) sum += double(w[c]) * x[c];
      pooled[r] = activate(spec_.activation, sum);
    }
    if (!norm_weight_.empty()) {
      double mean = 0, variance = 0;
      for (int64_t c = 0; c < h; ++c) mean += pooled[c];
      mean /= double(h);
      for (int64_t c = 0; c < h; ++c) variance += (pooled[c] - mean) * (pooled[c] - mean);
      const double inv_std = 1.0 / std::sqrt(variance / double(h) + spec_.norm_eps);
      for (int64_t c = 0; c < h; ++c) {
        pooled[c] = (pooled[c] - mean) * inv_std * norm_weight_[c] + norm_bias_[c];
      }
    }
    for (int64_t k = 0; k < labels; ++k) {
      double sum = out_bias_[k];
      const float* w = out_weight_.data() + k * h;
      for (int64_t c = 0; c < h; ++c) sum += double(w[c]) * pooled[c];
      logits[s * labels + k] = float(sum);
    }
  }
}

}  // namespace embedrt::model
