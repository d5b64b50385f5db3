#include "model/bert_weights.h"

#include <map>
#include <set>
#include <sstream>

#include "embedrt/error.h"

namespace embedrt::model {
namespace {

constexpr std::string_view kAnchor = "embeddings.word_embeddings.weight";

std::string format_shape(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Name (without prefix) -> expected shape of every tensor the encoder needs.
std::map<std::string, std::vector<int64_t>> expected_tensors(const BertConfig& c) {
  const int64_t h = c.hidden_size, i = c.intermediate_size;
  std::map<std::string, std::vector<int64_t>> t{
      {"embeddings.word_embeddings.weight", {c.vocab_size, h}},
      {"embeddings.position_embeddings.weight", {c.max_position_embeddings, h}},
      {"embeddings.token_type_embeddings.weight", {c.type_vocab_size, h}},
      {"embeddings.LayerNorm.weight", {h}},
      {"embeddings.LayerNorm.bias", {h}},
  };
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* part : {"query", "key", "value"}) {
      t[p + "attention.self." + part + ".weight"] = {h, h};
      t[p + "attention.self." + part + ".bias"] = {h};
    }
    t[p + "attention.output.dense.weight"] = {h, h};
    t[p + "attention.output.dense.bias"] = {h};
    t[p + "attention.output.LayerNorm.weight"] = {h};
    t[p + "attention.output.LayerNorm.bias"] = {h};
    t[p + "intermediate.dense.weight"] = {i, h};
    t[p + "intermediate.dense.bias"] = {i};
    t[p + "output.dense.weight"] = {h, i};
    t[p + "output.dense.bias"] = {h};
    t[p + "output.LayerNorm.weight"] = {h};
    t[p + "output.LayerNorm.bias"] = {h};
  }
  return t;
}

bool ignorable(const std::string& name) {
  return name.rfind("pooler.", 0) == 0 || name == "embeddings.position_ids";
}

}  // namespace

std::string detect_bert_prefix(const SafeTensorsFile& file) {
  std::vector<std::string> prefixes;
  for (const auto& [name, info] : file.tensors()) {
    if (name.size() >= kAnchor.size() &&
        name.compare(name.size() - kAnchor.size(), kAnchor.size(), kAnchor) == 0) {
      const std::string prefix = name.substr(0, name.size() - kAnchor.size());
      if (prefix.empty() || prefix.back() == '.') prefixes.push_back(prefix);
    }
  }
  if (prefixes.empty()) {
    throw Error(ErrorCode::kInvalidModel, file.path().string() + ": no tensor named [<prefix>]" +
                                              std::string(kAnchor) +
                                              " (not a BERT encoder checkpoint)");
  }
  if (prefixes.size() > 1) {
    throw Error(ErrorCode::kInvalidModel, file.path().string() + ": several BERT encoders ('" +
                                              prefixes[0] + "', '" + prefixes[1] +
                                              "'); expected one");
  }
  return prefixes.front();
}

BertWeights load_bert_weights(const SafeTensorsFile& file, const BertConfig& config,
                              bool half_word_embeddings) {
  BertWeights w;
  w.prefix = detect_bert_prefix(file);
  const auto expected = expected_tensors(config);

  std::vector<std::string> missing, unexpected, misshaped;
  for (const auto& [name, shape] : expected) {
    const auto it = file.tensors().find(w.prefix + name);
    if (it == file.tensors().end()) {
      missing.push_back(w.prefix + name);
    } else if (it->second.shape != shape) {
      misshaped.push_back(w.prefix + name + " " + format_shape(it->second.shape) + " (expected " +
                          format_shape(shape) + ")");
    }
  }
  for (const auto& [name, info] : file.tensors()) {
    if (name.rfind(w.prefix, 0) != 0) continue;  // a task head outside the encoder
    const std::string local = name.substr(w.prefix.size());
    if (!expected.count(local) && !ignorable(local)) unexpected.push_back(name);
  }
  if (!missing.empty() || !unexpected.empty() || !misshaped.empty()) {
    std::ostringstream msg;
    msg << file.path().string() << ": tensors do not match config.json:";
    const auto list = [&](const char* what, const std::vector<std::string>& names) {
      if (names.empty()) return;
      msg << " " << what << " (" << names.size() << "):";
      for (size_t i = 0; i < names.size(); ++i) msg << (i ? ", " : " ") << names[i];
      msg << ";";
    };
    list("missing", missing);
    list("unexpected", unexpected);
    list("mis-shaped", misshaped);
    std::string text = msg.str();
    text.pop_back();
    throw Error(ErrorCode::kInvalidModel, text);
  }

  const auto get = [&](const std::string& name) { return file.to_float(w.prefix + name); };
  if (half_word_embeddings) {
    w.word_embeddings_half = file.to_half(w.prefix + "embeddings.word_embeddings.weight");
  } else {
    w.word_embeddings = get("embeddings.word_embeddings.weight");
  }
  w.position_embeddings = get("embeddings.position_embeddings.weight");
  w.token_type_embeddings = get("embeddings.token_type_embeddings.weight");
  w.embedding_norm_weight = get("embeddings.LayerNorm.weight");
  w.embedding_norm_bias = get("embeddings.LayerNorm.bias");
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    BertLayerWeights layer;
    for (const char* part : {"query", "key", "value"}) {
      const auto weight = get(p + "attention.self." + part + ".weight");
      const auto bias = get(p + "attention.self." + part + ".bias");
      layer.qkv_weight.insert(layer.qkv_weight.end(), weight.begin(), weight.end());
      layer.qkv_bias.insert(layer.qkv_bias.end(), bias.begin(), bias.end());
    }
    layer.attention_output_weight = get(p + "attention.output.dense.weight");
    layer.attention_output_bias = get(p + "attention.output.dense.bias");
    layer.attention_norm_weight = get(p + "attention.output.LayerNorm.weight");
    layer.attention_norm_bias = get(p + "attention.output.LayerNorm.bias");
    layer.intermediate_weight = get(p + "intermediate.dense.weight");
    layer.intermediate_bias = get(p + "intermediate.dense.bias");
    layer.output_weight = get(p + "output.dense.weight");
    layer.output_bias = get(p + "output.dense.bias");
    layer.output_norm_weight = get(p + "output.LayerNorm.weight");
    layer.output_norm_bias = get(p + "output.LayerNorm.bias");
    w.layers.push_back(std::move(layer));
  }
  return w;
}

}  // namespace embedrt::model
