#include "model/transformer_spec.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string_view>

#include "embedrt/error.h"
#include "model/json_file.h"

namespace embedrt::model {
namespace {

using nlohmann::json;

class ConfigReader {
 public:
  ConfigReader(const json& root, const std::string& file) : root_(root), file_(file) {}

  [[noreturn]] void fail(ErrorCode code, const std::string& field, const std::string& what) const {
    throw Error(code, file_ + ": " + field + ": " + what);
  }

  int64_t positive_int(const std::string& field) const {
    const auto it = root_.find(field);
    if (it == root_.end()) fail(ErrorCode::kInvalidModel, field, "missing (expected an integer)");
    if (!it->is_number_integer() || it->get<int64_t>() <= 0) {
      fail(ErrorCode::kInvalidModel, field, "expected a positive integer, found " + it->dump());
    }
    return it->get<int64_t>();
  }

  int64_t positive_int_or(const std::string& field, int64_t fallback) const {
    return root_.contains(field) ? positive_int(field) : fallback;
  }

  int64_t non_negative_int_or(const std::string& field, int64_t fallback) const {
    const auto it = root_.find(field);
    if (it == root_.end() || it->is_null()) return fallback;
    if (!it->is_number_integer() || it->get<int64_t>() < 0) {
      fail(ErrorCode::kInvalidModel, field, "expected a non-negative integer, found " + it->dump());
    }
    return it->get<int64_t>();
  }

  std::string string_or(const std::string& field, const std::string& fallback) const {
    const auto it = root_.find(field);
    if (it == root_.end() || it->is_null()) return fallback;
    if (!it->is_string())
      fail(ErrorCode::kInvalidModel, field, "expected a string, found " + it->dump());
    return it->get<std::string>();
  }

  double number_or(const std::string& field, double fallback) const {
    const auto it = root_.find(field);
    if (it == root_.end()) return fallback;
    if (!it->is_number() || it->get<double>() < 0) {
      fail(ErrorCode::kInvalidModel, field, "expected a non-negative number, found " + it->dump());
    }
    return it->get<double>();
  }

  bool bool_or(const std::string& field, bool fallback) const {
    const auto it = root_.find(field);
    if (it == root_.end() || it->is_null()) return fallback;
    if (!it->is_boolean())
      fail(ErrorCode::kInvalidModel, field, "expected a boolean, found " + it->dump());
    return it->get<bool>();
  }

  const json& root() const { return root_; }

 private:
  const json& root_;
  const std::string& file_;
};

kernels::Activation parse_activation(const ConfigReader& r, const std::string& field) {
  const std::string act = r.string_or(field, "gelu");
  if (act == "gelu") return kernels::Activation::kGeluErf;
  if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") {
    return kernels::Activation::kGeluTanh;
  }
  if (act == "relu") return kernels::Activation::kRelu;
  if (act == "silu" || act == "swish") return kernels::Activation::kSilu;
  r.fail(ErrorCode::kUnsupported, field,
         "'" + act +
             "' is not supported (expected gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, "
             "relu, silu or swish)");
}

void check_heads(const ConfigReader& r, const TransformerSpec& s, const std::string& field,
                 const std::string& hidden_field) {
  if (s.hidden_size % s.num_attention_heads != 0) {
    r.fail(ErrorCode::kInvalidModel, field,
           std::to_string(s.num_attention_heads) + " does not divide " + hidden_field + " " +
               std::to_string(s.hidden_size));
  }
}

void check_absolute_positions(const ConfigReader& r) {
  const std::string position = r.string_or("position_embedding_type", "absolute");
  if (position != "absolute") {
    r.fail(ErrorCode::kUnsupported, "position_embedding_type",
           "'" + position + "' is not supported (expected \"absolute\")");
  }
}

// BERT-shaped names: <embeddings.*>, encoder.layer.N.{attention.self.query, ...}.
WeightNames bert_names() {
  WeightNames n;
  n.word_embeddings = "embeddings.word_embeddings.weight";
  n.position_embeddings = "embeddings.position_embeddings.weight";
  n.token_type_embeddings = "embeddings.token_type_embeddings.weight";
  n.embedding_norm = "embeddings.LayerNorm";
  n.layer = "encoder.layer.";
  n.query = "attention.self.query";
  n.key = "attention.self.key";
  n.value = "attention.self.value";
  n.attention_output = "attention.output.dense";
  n.attention_norm = "attention.output.LayerNorm";
  n.ffn_up = "intermediate.dense";
  n.ffn_down = "output.dense";
  n.ffn_norm = "output.LayerNorm";
  n.ignored = {"pooler.", "embeddings.position_ids"};
  return n;
}

// BERT: config.json fields as TransformerSpec writes them.
TransformerSpec build_bert(const ConfigReader& r) {
  TransformerSpec s;
  s.vocab_size = r.positive_int("vocab_size");
  s.hidden_size = r.positive_int("hidden_size");
  s.num_hidden_layers = r.positive_int("num_hidden_layers");
  s.num_attention_heads = r.positive_int("num_attention_heads");
  check_heads(r, s, "num_attention_heads", "hidden_size");
  s.intermediate_size = r.positive_int("intermediate_size");
  s.hidden_act = parse_activation(r, "hidden_act");
  s.layer_norm_eps = r.number_or("layer_norm_eps", 1e-12);
  s.max_position_embeddings = r.positive_int("max_position_embeddings");
  s.type_vocab_size = r.positive_int_or("type_vocab_size", 2);
  check_absolute_positions(r);
  s.names = bert_names();
  return s;
}

// RoBERTa and XLM-RoBERTa: BERT's shape, with fairseq's positions (counted from pad_token_id + 1,
// the pad token itself at pad_token_id).
TransformerSpec build_roberta(const ConfigReader& r) {
  TransformerSpec s = build_bert(r);
  s.type_vocab_size = r.positive_int_or("type_vocab_size", 1);
  s.layer_norm_eps = r.number_or("layer_norm_eps", 1e-5);
  s.position_pad_id = r.non_negative_int_or("pad_token_id", 1);
  s.position_offset = s.position_pad_id + 1;
  if (s.max_position_embeddings <= s.position_offset) {
    r.fail(ErrorCode::kInvalidModel, "max_position_embeddings",
           std::to_string(s.max_position_embeddings) +
               " leaves no position after the offset pad_token_id + 1 = " +
               std::to_string(s.position_offset));
  }
  s.names.ignored.push_back("embeddings.token_type_ids");
  return s;
}

// DistilBERT: its own field names, no token type embeddings, LayerNorm eps fixed at 1e-12.
TransformerSpec build_distilbert(const ConfigReader& r) {
  TransformerSpec s;
  s.vocab_size = r.positive_int("vocab_size");
  s.hidden_size = r.positive_int("dim");
  s.num_hidden_layers = r.positive_int("n_layers");
  s.num_attention_heads = r.positive_int("n_heads");
  check_heads(r, s, "n_heads", "dim");
  s.intermediate_size = r.positive_int("hidden_dim");
  s.hidden_act = parse_activation(r, "activation");
  s.layer_norm_eps = 1e-12;
  s.max_position_embeddings = r.positive_int("max_position_embeddings");
  s.type_vocab_size = 0;
  if (r.bool_or("sinusoidal_pos_embds", false)) {
    r.fail(ErrorCode::kUnsupported, "sinusoidal_pos_embds",
           "true is not supported (expected false: learned position embeddings)");
  }
  WeightNames& n = s.names;
  n.word_embeddings = "embeddings.word_embeddings.weight";
  n.position_embeddings = "embeddings.position_embeddings.weight";
  n.embedding_norm = "embeddings.LayerNorm";
  n.layer = "transformer.layer.";
  n.query = "attention.q_lin";
  n.key = "attention.k_lin";
  n.value = "attention.v_lin";
  n.attention_output = "attention.out_lin";
  n.attention_norm = "sa_layer_norm";
  n.ffn_up = "ffn.lin1";
  n.ffn_down = "ffn.lin2";
  n.ffn_norm = "output_layer_norm";
  n.ignored = {"embeddings.position_ids"};
  return s;
}

// MPNet: BERT's post-LN layers under other names, no token type embeddings, RoBERTa's positions
// and one relative position bias table shared by all layers.
TransformerSpec build_mpnet(const ConfigReader& r) {
  TransformerSpec s;
  s.vocab_size = r.positive_int("vocab_size");
  s.hidden_size = r.positive_int("hidden_size");
  s.num_hidden_layers = r.positive_int("num_hidden_layers");
  s.num_attention_heads = r.positive_int("num_attention_heads");
  check_heads(r, s, "num_attention_heads", "hidden_size");
  s.intermediate_size = r.positive_int("intermediate_size");
  s.hidden_act = parse_activation(r, "hidden_act");
  s.layer_norm_eps = r.number_or("layer_norm_eps", 1e-12);
  s.max_position_embeddings = r.positive_int("max_position_embeddings");
  s.type_vocab_size = 0;
  // transformers' MPNetEmbeddings fixes padding_idx at 1 whatever pad_token_id says: positions
  // count from 2 and a token with id 1 takes row 1.
  s.position_pad_id = 1;
  s.position_offset = 2;
  if (s.max_position_embeddings <= s.position_offset) {
    r.fail(ErrorCode::kInvalidModel, "max_position_embeddings",
           std::to_string(s.max_position_embeddings) +
               " leaves no position after the offset 2 (MPNet counts positions from 2)");
  }
  s.relative_attention_num_buckets = r.positive_int("relative_attention_num_buckets");
  // MPNetEncoder.compute_position_bias looks up 32 buckets whatever the config says; another
  // table size would either index past it or leave rows unused.
  if (s.relative_attention_num_buckets != 32) {
    r.fail(ErrorCode::kUnsupported, "relative_attention_num_buckets",
           std::to_string(s.relative_attention_num_buckets) +
               " is not supported (expected 32: transformers' MPNet always computes 32 buckets)");
  }
  s.relative_attention_max_distance = 128;
  WeightNames& n = s.names;
  n.word_embeddings = "embeddings.word_embeddings.weight";
  n.position_embeddings = "embeddings.position_embeddings.weight";
  n.embedding_norm = "embeddings.LayerNorm";
  n.layer = "encoder.layer.";
  n.query = "attention.attn.q";
  n.key = "attention.attn.k";
  n.value = "attention.attn.v";
  n.attention_output = "attention.attn.o";
  n.attention_norm = "attention.LayerNorm";
  n.ffn_up = "intermediate.dense";
  n.ffn_down = "output.dense";
  n.ffn_norm = "output.LayerNorm";
  n.relative_attention_bias = "encoder.relative_attention_bias.weight";
  n.ignored = {"pooler.", "embeddings.position_ids"};
  return s;
}

struct Family {
  std::string_view model_type;
  // Accepted `architectures`: <prefix>Model and every <prefix>For* head on the same encoder.
  std::string_view architecture_prefix;
  TransformerSpec (*build)(const ConfigReader&);
};

constexpr Family kFamilies[] = {
    {"bert", "Bert", build_bert},
    {"distilbert", "DistilBert", build_distilbert},
    {"mpnet", "MPNet", build_mpnet},
    {"roberta", "Roberta", build_roberta},
    {"xlm-roberta", "XLMRoberta", build_roberta},
};

std::string supported_list() {
  std::string list;
  for (const Family& f : kFamilies) list += (list.empty() ? "" : ", ") + std::string(f.model_type);
  return list;
}

const Family& find_family(const ConfigReader& r) {
  const std::string model_type = r.string_or("model_type", "");
  for (const Family& f : kFamilies) {
    if (f.model_type == model_type) return f;
  }
  r.fail(ErrorCode::kUnsupported, "model_type",
         (model_type.empty() ? std::string("missing") : "'" + model_type + "' is not supported") +
             " (supported: " + supported_list() + ")");
}

void check_architectures(const ConfigReader& r, const Family& family) {
  const auto it = r.root().find("architectures");
  if (it == r.root().end() || it->is_null()) return;
  if (!it->is_array()) r.fail(ErrorCode::kInvalidModel, "architectures", "expected an array");
  const std::string model = std::string(family.architecture_prefix) + "Model";
  const std::string heads = std::string(family.architecture_prefix) + "For";
  for (const auto& arch : *it) {
    if (!arch.is_string()) {
      r.fail(ErrorCode::kInvalidModel, "architectures", "expected strings, found " + arch.dump());
    }
    const std::string name = arch.get<std::string>();
    // Every head class sits on the same encoder, whose weights are all we use.
    if (name != model && name.rfind(heads, 0) != 0) {
      r.fail(ErrorCode::kUnsupported, "architectures",
             "'" + name + "' is not a " + std::string(family.model_type) + " encoder (expected " +
                 model + " or " + heads + "*)");
    }
  }
}

}  // namespace

int64_t relative_position_bucket(int64_t relative_position, int64_t num_buckets,
                                 int64_t max_distance) {
  const int64_t half = num_buckets / 2;
  int64_t bucket = relative_position > 0 ? half : 0;
  const int64_t n = relative_position < 0 ? -relative_position : relative_position;
  const int64_t max_exact = half / 2;
  if (n < max_exact) return bucket + n;
  // PyTorch: log(float(n) / max_exact) / math.log(max_distance / max_exact) * (half - max_exact),
  // each step rounded to float, then truncated.
  const float ratio = static_cast<float>(n) / static_cast<float>(max_exact);
  const float log_range = static_cast<float>(
      std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
  const float scaled = std::log(ratio) / log_range * static_cast<float>(half - max_exact);
  return bucket + std::min(max_exact + static_cast<int64_t>(scaled), half - 1);
}

TransformerSpec parse_transformer_spec(const std::string& json_text, const std::string& file) {
  const json root = parse_json_object(json_text, file);
  const ConfigReader r(root, file);
  const Family& family = find_family(r);
  check_architectures(r, family);
  TransformerSpec spec = family.build(r);
  spec.model_type = std::string(family.model_type);
  return spec;
}

TransformerSpec load_transformer_spec(const std::filesystem::path& path) {
  return parse_transformer_spec(read_text_file(path), path.string());
}

std::vector<std::string> supported_model_types() {
  std::vector<std::string> types;
  for (const Family& f : kFamilies) types.emplace_back(f.model_type);
  return types;
}

}  // namespace embedrt::model
