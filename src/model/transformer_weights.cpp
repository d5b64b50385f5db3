#include "model/transformer_weights.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "embedrt/error.h"
#include "kernels/cpu/quantize.h"

namespace embedrt::model {
namespace {

std::string format_shape(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string layer_name(const TransformerSpec& s, int64_t layer, const std::string& module) {
  return s.names.layer + std::to_string(layer) + "." + module;
}

// Name (without prefix) -> expected shape of every tensor the encoder needs.
std::map<std::string, std::vector<int64_t>> expected_tensors(const TransformerSpec& s) {
  const int64_t h = s.hidden_size, i = s.intermediate_size;
  const WeightNames& n = s.names;
  std::map<std::string, std::vector<int64_t>> t{{n.word_embeddings, {s.vocab_size, h}}};
  if (s.position == PositionKind::kLearnedAbsolute) {
    t[n.position_embeddings] = {s.max_position_embeddings, h};
  }
  if (s.type_vocab_size > 0) t[n.token_type_embeddings] = {s.type_vocab_size, h};
  const auto norm = [&](const std::string& name) {
    t[name + ".weight"] = {h};
    if (s.norm_bias) t[name + ".bias"] = {h};
  };
  if (!n.embedding_norm.empty()) norm(n.embedding_norm);
  if (!n.final_norm.empty()) norm(n.final_norm);
  if (s.relative_attention_num_buckets > 0) {
    t[n.relative_attention_bias] = {s.relative_attention_num_buckets, s.num_attention_heads};
  }
  const auto linear = [&](int64_t l, const std::string& module, int64_t out, int64_t in,
                          bool bias) {
    t[layer_name(s, l, module) + ".weight"] = {out, in};
    if (bias) t[layer_name(s, l, module) + ".bias"] = {out};
  };
  const bool gated = s.mlp == MlpKind::kGated;
  for (int64_t l = 0; l < s.num_hidden_layers; ++l) {
    if (!n.qkv.empty()) {
      linear(l, n.qkv, s.qkv_dim(), h, s.attention_bias);
    } else {
      linear(l, n.query, s.query_dim(), h, s.attention_bias);
      linear(l, n.key, s.kv_dim(), h, s.attention_bias);
      linear(l, n.value, s.kv_dim(), h, s.attention_bias);
    }
    linear(l, n.attention_output, h, s.query_dim(), s.attention_bias);
    for (const std::string* head_norm : {&n.query_norm, &n.key_norm}) {
      if (!head_norm->empty()) t[layer_name(s, l, *head_norm) + ".weight"] = {s.head_dim()};
    }
    for (const std::string* post_norm : {&n.post_attention_norm, &n.post_ffn_norm}) {
      if (!post_norm->empty()) t[layer_name(s, l, *post_norm) + ".weight"] = {h};
    }
    if (l > 0 || s.first_layer_attention_norm) norm(layer_name(s, l, n.attention_norm));
    if (gated && !n.ffn_gate.empty()) linear(l, n.ffn_gate, i, h, s.mlp_bias);
    linear(l, n.ffn_up, gated && n.ffn_gate.empty() ? 2 * i : i, h, s.mlp_bias);
    linear(l, n.ffn_down, h, i, s.has_mlp_down_bias());
    norm(layer_name(s, l, n.ffn_norm));
  }
  return t;
}

// [a; b] -> [b; a]: a fused [up; gate] made [gate; up].
template <typename T>
void swap_halves(std::vector<T>& v) {
  std::rotate(v.begin(), v.begin() + std::ptrdiff_t(v.size() / 2), v.end());
}

// The tensors `names` (each [rows_i, cols]) stacked along the rows, their halves swapped when
// `swapped` (see swap_halves). F16 or BF16 parts of one dtype stay 16-bit: stacking and swapping
// only move values, so that is exact, and an fp32 copy is never made. With `in_place`, a 16-bit
// matrix stored whole and left as it is is read from the mapping itself.
WeightMatrix stacked_matrix(const SafeTensorsFile& file, const std::vector<std::string>& names,
                            bool swapped, bool in_place) {
  WeightMatrix m;
  const DType dtype = file.info(names.front()).dtype;
  bool same_dtype = true;
  for (const std::string& name : names) {
    const TensorInfo& t = file.info(name);
    m.rows += t.shape.at(0);
    m.cols = t.shape.at(1);
    same_dtype = same_dtype && t.dtype == dtype;
  }
  if (!same_dtype || (dtype != DType::kF16 && dtype != DType::kBF16)) {
    for (const std::string& name : names) {
      const std::vector<float> part = file.to_float(name);
      m.f32.insert(m.f32.end(), part.begin(), part.end());
    }
    if (swapped) swap_halves(m.f32);
    return m;
  }
  m.type = dtype == DType::kBF16 ? kernels::WeightType::kBF16 : kernels::WeightType::kF16;
  const TensorInfo& whole = file.info(names.front());
  const bool aligned =
      reinterpret_cast<uintptr_t>(file.bytes(whole).data()) % alignof(uint16_t) == 0;
  if (in_place && names.size() == 1 && !swapped && aligned && whole.data_size > 0) {
    m.mapped = file.map(names.front());
    return m;
  }
  // One exact-size buffer filled from the mapping (each part's pages dropped once copied): no
  // temporaries or regrowth, whose freed blocks would stay resident between the packed layers.
  m.bits.resize(size_t(m.rows * m.cols));
  auto* to = reinterpret_cast<std::byte*>(m.bits.data());
  for (const std::string& name : names) {
    const TensorInfo& part = file.info(name);
    if (part.data_size == 0) continue;
    const MappedTensor bytes = file.map(name);
    std::memcpy(to, bytes.data(), part.data_size);
    to += part.data_size;
  }
  if (swapped) swap_halves(m.bits);
  return m;
}

bool ignorable(const WeightNames& names, const std::string& name) {
  for (const std::string& ignored : names.ignored) {
    if (!ignored.empty() && ignored.back() == '.' ? name.rfind(ignored, 0) == 0 : name == ignored) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string detect_encoder_prefix(const SafeTensorsFile& file, const TransformerSpec& spec) {
  const std::string& anchor = spec.names.word_embeddings;
  std::vector<std::string> prefixes;
  for (const auto& [name, info] : file.tensors()) {
    if (name.size() >= anchor.size() &&
        name.compare(name.size() - anchor.size(), anchor.size(), anchor) == 0) {
      const std::string prefix = name.substr(0, name.size() - anchor.size());
      if (prefix.empty() || prefix.back() == '.') prefixes.push_back(prefix);
    }
  }
  if (prefixes.empty()) {
    throw Error(ErrorCode::kInvalidModel, file.path().string() + ": no tensor named [<prefix>]" +
                                              anchor + " (not a " + spec.model_type +
                                              " encoder checkpoint)");
  }
  if (prefixes.size() > 1) {
    throw Error(ErrorCode::kInvalidModel, file.path().string() + ": several encoders ('" +
                                              prefixes[0] + "', '" + prefixes[1] +
                                              "'); expected one");
  }
  return prefixes.front();
}

namespace {

TransformerWeights load_weights(const SafeTensorsFile& file, const TransformerSpec& spec,
                                const WeightLoadOptions& options, bool map_float_words) {
  TransformerWeights w;
  w.prefix = detect_encoder_prefix(file, spec);
  const auto expected = expected_tensors(spec);

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
    if (!expected.count(local) && !ignorable(spec.names, local)) unexpected.push_back(name);
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
    // The bias table's size comes from one config field; name it.
    for (const auto* names : {&unexpected, &misshaped}) {
      const bool bias = std::any_of(names->begin(), names->end(), [](const std::string& name) {
        return name.find("relative_attention_bias") != std::string::npos;
      });
      if (bias) {
        text += " (config.json: relative_attention_num_buckets is " +
                std::to_string(spec.relative_attention_num_buckets) + ")";
        break;
      }
    }
    throw Error(ErrorCode::kInvalidModel, text);
  }

  const WeightNames& n = spec.names;
  const std::string prefix = w.prefix;
  const auto get = [&file, prefix](const std::string& name) {
    return file.to_float(prefix + name);
  };
  const std::string& words = w.prefix + n.word_embeddings;
  const DType words_dtype = file.info(words).dtype;
  const bool words_16bit = words_dtype == DType::kF16 || words_dtype == DType::kBF16;
  // A scaled table (Gemma) is kept in fp32 with the scale folded in.
  const bool scaled = spec.embedding_scale != 1.0;
  if (!scaled && options.word_embeddings != WordEmbeddings::kFloat && words_16bit) {
    w.word_embeddings_half = file.to_16bit(words);
    w.word_embeddings_bf16 = words_dtype == DType::kBF16;
  } else if (!scaled && options.word_embeddings == WordEmbeddings::kHalf) {
    w.word_embeddings_half = file.to_half(words);
  } else if (map_float_words && !scaled && words_dtype == DType::kF32 &&
             reinterpret_cast<uintptr_t>(file.bytes(file.info(words)).data()) % alignof(float) ==
                 0) {
    w.word_embeddings_mapped = file.map(words);
  } else {
    w.word_embeddings = get(n.word_embeddings);
  }
  if (spec.embedding_scale != 1.0) {
    // Gemma: the table times sqrt(hidden) as transformers computes it in fp32 (the scale a float
    // tensor), folded in here once instead of per token.
    const float scale = static_cast<float>(spec.embedding_scale);
    for (float& x : w.word_embeddings) x *= scale;
  }
  if (spec.position == PositionKind::kLearnedAbsolute) {
    w.position_embeddings = get(n.position_embeddings);
  }
  if (spec.type_vocab_size > 0) w.token_type_embeddings = get(n.token_type_embeddings);
  const int64_t h = spec.hidden_size;
  // Gemma's x * (1 + weight), folded in fp32 as transformers computes it.
  const auto norm_weight =
      [get, offset = static_cast<float>(spec.norm_weight_offset)](const std::string& name) {
        std::vector<float> weight = get(name + ".weight");
        if (offset != 0.0f) {
          for (float& x : weight) x += offset;
        }
        return weight;
      };
  // A norm without bias gets a zero one, so the kernels have one shape of LayerNorm.
  const auto norm = [get, h, norm_bias = spec.norm_bias, norm_weight](const std::string& name,
                                                                      std::vector<float>& weight,
                                                                      std::vector<float>& bias) {
    weight = norm_weight(name);
    bias = norm_bias ? get(name + ".bias") : std::vector<float>(h, 0.0f);
  };
  if (!n.embedding_norm.empty()) {
    norm(n.embedding_norm, w.embedding_norm_weight, w.embedding_norm_bias);
  }
  if (!n.final_norm.empty()) norm(n.final_norm, w.final_norm_weight, w.final_norm_bias);
  if (spec.relative_attention_num_buckets > 0) {
    w.relative_attention_bias = get(n.relative_attention_bias);
  }
  // Copies what it needs of `spec`: a streaming load calls it after this function returns.
  w.num_layers = spec.num_hidden_layers;
  w.load_layer = [&file, prefix, get, norm, norm_weight, spec,
                  in_place = options.stream_layers](int64_t l) {
    const WeightNames& n = spec.names;
    const auto append = [](std::vector<float>& to, const std::vector<float>& from) {
      to.insert(to.end(), from.begin(), from.end());
    };
    // Matrices stay in the checkpoint's type; a streamed layer reads whole ones in place.
    const auto weight = [&](std::initializer_list<const std::string*> modules,
                            bool swapped = false) {
      std::vector<std::string> names;
      for (const std::string* module : modules) {
        names.push_back(prefix + layer_name(spec, l, *module) + ".weight");
      }
      return stacked_matrix(file, names, swapped, in_place);
    };
    // An absent bias stays empty (the Linear then has none).
    const auto bias = [&](const std::string& module, bool present) {
      return present ? get(layer_name(spec, l, module) + ".bias") : std::vector<float>();
    };
    LayerWeights layer;
    if (!n.qkv.empty()) {
      layer.qkv_weight = weight({&n.qkv});
      layer.qkv_bias = bias(n.qkv, spec.attention_bias);
    } else {
      layer.qkv_weight = weight({&n.query, &n.key, &n.value});
      for (const std::string* part : {&n.query, &n.key, &n.value}) {
        append(layer.qkv_bias, bias(*part, spec.attention_bias));
      }
    }
    if (!n.query_norm.empty()) {
      layer.query_norm_weight = norm_weight(layer_name(spec, l, n.query_norm));
      layer.key_norm_weight = norm_weight(layer_name(spec, l, n.key_norm));
    }
    if (!n.post_attention_norm.empty()) {
      layer.post_attention_norm_weight = norm_weight(layer_name(spec, l, n.post_attention_norm));
    }
    if (!n.post_ffn_norm.empty()) {
      layer.post_ffn_norm_weight = norm_weight(layer_name(spec, l, n.post_ffn_norm));
    }
    layer.attention_output_weight = weight({&n.attention_output});
    layer.attention_output_bias = bias(n.attention_output, spec.attention_bias);
    if (l > 0 || spec.first_layer_attention_norm) {
      norm(layer_name(spec, l, n.attention_norm), layer.attention_norm_weight,
           layer.attention_norm_bias);
    }
    if (spec.mlp == MlpKind::kGated && !n.ffn_gate.empty()) {
      // Activated half first: [gate; up].
      layer.intermediate_weight = weight({&n.ffn_gate, &n.ffn_up});
      layer.intermediate_bias = bias(n.ffn_gate, spec.mlp_bias);
      append(layer.intermediate_bias, bias(n.ffn_up, spec.mlp_bias));
    } else {
      // A fused [up; gate] becomes [gate; up].
      const bool swapped = spec.mlp == MlpKind::kGated && !spec.gate_activated_first;
      layer.intermediate_weight = weight({&n.ffn_up}, swapped);
      layer.intermediate_bias = bias(n.ffn_up, spec.mlp_bias);
      if (swapped) swap_halves(layer.intermediate_bias);
    }
    layer.output_weight = weight({&n.ffn_down});
    layer.output_bias = bias(n.ffn_down, spec.has_mlp_down_bias());
    norm(layer_name(spec, l, n.ffn_norm), layer.output_norm_weight, layer.output_norm_bias);
    return layer;
  };
  if (!options.stream_layers) {
    for (int64_t l = 0; l < w.num_layers; ++l) w.layers.push_back(w.load_layer(l));
    w.load_layer = nullptr;
  }
  return w;
}

}  // namespace

TransformerWeights load_transformer_weights(const SafeTensorsFile& file,
                                            const TransformerSpec& spec,
                                            const WeightLoadOptions& options) {
  return load_weights(file, spec, options, /*map_float_words=*/false);
}

TransformerWeights load_transformer_weights(std::shared_ptr<const SafeTensorsFile> file,
                                            const TransformerSpec& spec,
                                            const WeightLoadOptions& options) {
  TransformerWeights w = load_weights(*file, spec, options, /*map_float_words=*/true);
  if (!w.word_embeddings_mapped.empty()) w.file = std::move(file);
  return w;
}

kernels::WeightView WeightMatrix::view() const {
  if (!mapped.empty()) return {type, mapped.data()};
  if (type == kernels::WeightType::kF32) return {type, f32.data()};
  return {type, bits.data()};
}

std::vector<float> WeightMatrix::to_float() const {
  if (type == kernels::WeightType::kF32) return f32;
  std::vector<float> out(size_t(rows * cols));
  const auto* values = static_cast<const uint16_t*>(view().data);
  (type == kernels::WeightType::kBF16 ? kernels::bf16_to_float : kernels::half_to_float)(
      values, rows * cols, out.data());
  return out;
}

int64_t TransformerWeights::layer_count() const {
  return load_layer ? num_layers : int64_t(layers.size());
}

LayerWeights TransformerWeights::take_layer(int64_t l) {
  if (load_layer) return load_layer(l);
  return std::move(layers.at(size_t(l)));
}

}  // namespace embedrt::model
