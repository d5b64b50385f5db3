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
  const std::string& file() const { return file_; }

 private:
  const json& root_;
  const std::string& file_;
};

kernels::Activation parse_activation(const ConfigReader& r, const std::string& field,
                                     const std::string& fallback = "gelu") {
  return parse_activation_name(r.string_or(field, fallback), r.file(), field);
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

// The sizes every config.json with BERT's field names carries (BERT, RoBERTa, MPNet, GTE,
// ModernBERT, transformers 5's NomicBERT).
void read_bert_dimensions(const ConfigReader& r, TransformerSpec& s) {
  s.vocab_size = r.positive_int("vocab_size");
  s.hidden_size = r.positive_int("hidden_size");
  s.num_hidden_layers = r.positive_int("num_hidden_layers");
  s.num_attention_heads = r.positive_int("num_attention_heads");
  check_heads(r, s, "num_attention_heads", "hidden_size");
  s.intermediate_size = r.positive_int("intermediate_size");
}

// BERT: config.json fields as TransformerSpec writes them.
TransformerSpec build_bert(const ConfigReader& r) {
  TransformerSpec s;
  read_bert_dimensions(r, s);
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

// ModernBERT's rotary base for one layer kind: rope_parameters.<kind>.rope_theta (what
// transformers 5 writes), else the older top-level field (<legacy>), else transformers' default.
double modernbert_rope_theta(const ConfigReader& r, const char* kind, const std::string& legacy,
                             double fallback) {
  const std::string field = std::string("rope_parameters.") + kind;
  const auto params = r.root().find("rope_parameters");
  if (params != r.root().end() && !params->is_null()) {
    const auto entry = params->find(kind);
    if (entry != params->end() && !entry->is_null()) {
      if (!entry->is_object()) r.fail(ErrorCode::kInvalidModel, field, "expected an object");
      const auto type = entry->find("rope_type");
      if (type != entry->end() && *type != "default") {
        r.fail(ErrorCode::kUnsupported, field + ".rope_type",
               type->dump() + " is not supported (expected \"default\")");
      }
      const auto theta = entry->find("rope_theta");
      if (theta != entry->end()) {
        if (!theta->is_number() || theta->get<double>() <= 0) {
          r.fail(ErrorCode::kInvalidModel, field + ".rope_theta",
                 "expected a positive number, found " + theta->dump());
        }
        return theta->get<double>();
      }
    }
  }
  const double theta = r.number_or(legacy, fallback);
  if (theta <= 0) r.fail(ErrorCode::kInvalidModel, legacy, "expected a positive number, found 0");
  return theta;
}

// ModernBERT's layer pattern as global_attention_every: layer_types (transformers 5) when present,
// else global_attn_every_n_layers (layer l full attention iff l % n == 0).
int64_t modernbert_global_every(const ConfigReader& r, int64_t layers) {
  const auto it = r.root().find("layer_types");
  if (it == r.root().end() || it->is_null())
    return r.positive_int_or("global_attn_every_n_layers", 3);
  if (!it->is_array() || int64_t(it->size()) != layers) {
    r.fail(ErrorCode::kInvalidModel, "layer_types",
           "expected an array of num_hidden_layers (" + std::to_string(layers) + ") strings");
  }
  std::vector<bool> full;
  for (const auto& type : *it) {
    if (type != "full_attention" && type != "sliding_attention") {
      r.fail(
          ErrorCode::kUnsupported, "layer_types",
          type.dump() + " is not supported (expected \"full_attention\" or \"sliding_attention\")");
    }
    full.push_back(type == "full_attention");
  }
  // The encoder takes "every n-th layer full, from layer 0"; n is the first full layer after 0.
  int64_t every = layers;
  for (int64_t l = 1; l < layers; ++l) {
    if (full[l]) {
      every = l;
      break;
    }
  }
  for (int64_t l = 0; l < layers; ++l) {
    if (full[l] != (l % every == 0)) {
      r.fail(ErrorCode::kUnsupported, "layer_types",
             "layer " + std::to_string(l) +
                 " breaks the supported pattern (full attention on every n-th layer from layer 0)");
    }
  }
  return every;
}

// ModernBERT: pre-norm blocks (layer 0 attends to the normalized embeddings directly, a final norm
// at the end), fused Wqkv, rotary positions with one base for global and one for local layers,
// sliding-window attention on all but every n-th layer, GeGLU with a fused Wi whose first half is
// activated, and biases (norms, attention, MLP) each optional.
TransformerSpec build_modernbert(const ConfigReader& r) {
  TransformerSpec s;
  read_bert_dimensions(r, s);
  s.hidden_act = parse_activation(r, "hidden_activation");
  // transformers reads norm_eps only; a layer_norm_eps some configs carry is unused.
  s.layer_norm_eps = r.number_or("norm_eps", 1e-5);
  s.max_position_embeddings = r.positive_int_or("max_position_embeddings", 8192);
  s.type_vocab_size = 0;
  s.norm_bias = r.bool_or("norm_bias", false);
  s.attention_bias = r.bool_or("attention_bias", false);
  s.mlp_bias = r.bool_or("mlp_bias", false);
  s.norm_placement = NormPlacement::kPre;
  s.first_layer_attention_norm = false;
  s.mlp = MlpKind::kGated;
  s.gate_activated_first = true;  // `input, gate = Wi(x).chunk(2)`; act(input) * gate

  s.global_attention_every = modernbert_global_every(r, s.num_hidden_layers);
  const bool has_local = s.global_attention_every > 1 && s.num_hidden_layers > 1;
  if (has_local) {
    if (!r.root().contains("local_attention")) {
      r.fail(ErrorCode::kInvalidModel, "local_attention",
             "missing (expected an even positive integer: the sliding-attention layers' window)");
    }
    const int64_t window = r.positive_int("local_attention");
    if (window % 2 != 0) {
      r.fail(ErrorCode::kInvalidModel, "local_attention",
             std::to_string(window) +
                 " is odd (expected an even window, local_attention / 2 "
                 "tokens on each side)");
    }
    s.local_window = window / 2;
  } else {
    s.global_attention_every = 1;
  }

  if (!r.root().value("rope_scaling", json()).is_null()) {
    r.fail(ErrorCode::kUnsupported, "rope_scaling", "is not supported (expected null)");
  }
  const auto params = r.root().find("rope_parameters");
  if (params != r.root().end() && !params->is_null()) {
    if (!params->is_object())
      r.fail(ErrorCode::kInvalidModel, "rope_parameters", "expected an object");
    for (const auto& [key, value] : params->items()) {
      if (key != "full_attention" && key != "sliding_attention") {
        r.fail(ErrorCode::kUnsupported, "rope_parameters",
               "'" + key + "' is not supported (expected full_attention and sliding_attention)");
      }
    }
  }
  s.position = PositionKind::kRotary;
  s.rotary.dim = s.head_dim();
  s.rotary.base = modernbert_rope_theta(r, "full_attention", "global_rope_theta", 160000.0);
  s.rotary.local_base = modernbert_rope_theta(r, "sliding_attention", "local_rope_theta", 10000.0);
  s.rotary.interleaved = false;

  WeightNames& n = s.names;
  n.word_embeddings = "embeddings.tok_embeddings.weight";
  n.embedding_norm = "embeddings.norm";
  n.layer = "layers.";
  n.qkv = "attn.Wqkv";
  n.attention_output = "attn.Wo";
  n.attention_norm = "attn_norm";
  n.ffn_up = "mlp.Wi";
  n.ffn_down = "mlp.Wo";
  n.ffn_norm = "mlp_norm";
  n.final_norm = "final_norm";
  return s;
}

// ---- Rotary families: NomicBERT and GTE ------------------------------------------------------
// Each comes in two config.json forms: transformers 5's own (NomicBertConfig, GteConfig) and the
// one the Hub checkpoints carry for their remote code (nomic's GPT-2-named NomicBertConfig,
// Alibaba-NLP/new-impl's NewConfig). transformers 5 writes its models back under the Hub
// checkpoint names, so one name map per family serves both forms.

const json* object_or_null(const ConfigReader& r, const std::string& field) {
  const auto it = r.root().find(field);
  if (it == r.root().end() || it->is_null()) return nullptr;
  if (!it->is_object())
    r.fail(ErrorCode::kInvalidModel, field, "expected an object, found " + it->dump());
  return &*it;
}

double positive_number(const ConfigReader& r, const json& value, const std::string& field) {
  if (!value.is_number() || !(value.get<double>() > 0)) {
    r.fail(ErrorCode::kInvalidModel, field, "expected a positive number, found " + value.dump());
  }
  return value.get<double>();
}

// transformers 5's rope_parameters (or the legacy top-level rope_theta): only the default rope
// type, whose frequencies span the whole head (transformers ignores partial_rotary_factor there).
double hf_rope_theta(const ConfigReader& r, double default_theta) {
  if (const json* legacy = object_or_null(r, "rope_scaling")) {
    r.fail(ErrorCode::kUnsupported, "rope_scaling",
           legacy->dump() + " is not supported (expected null: plain rotary positions)");
  }
  double theta = default_theta;
  if (const auto it = r.root().find("rope_theta"); it != r.root().end() && !it->is_null()) {
    theta = positive_number(r, *it, "rope_theta");
  }
  if (const json* params = object_or_null(r, "rope_parameters")) {
    for (const char* key : {"rope_type", "type"}) {
      const auto type = params->find(key);
      if (type != params->end() && *type != "default") {
        r.fail(ErrorCode::kUnsupported, std::string("rope_parameters.") + key,
               type->dump() + " is not supported (expected \"default\")");
      }
    }
    if (const auto it = params->find("rope_theta"); it != params->end()) {
      theta = positive_number(r, *it, "rope_parameters.rope_theta");
    }
  }
  return theta;
}

// These encoders have hidden_size / num_attention_heads per head; a config.json head_dim that
// says otherwise is refused (the decoder families read it into attention_head_size instead).
void check_head_dim(const ConfigReader& r, const TransformerSpec& s) {
  const auto it = r.root().find("head_dim");
  if (it == r.root().end() || it->is_null()) return;
  if (!it->is_number_integer() || it->get<int64_t>() != s.head_dim()) {
    r.fail(ErrorCode::kUnsupported, "head_dim",
           it->dump() + " is not supported (expected hidden_size / num_attention_heads = " +
               std::to_string(s.head_dim()) + ")");
  }
}

WeightNames nomic_bert_names(bool gated) {
  WeightNames n;
  n.word_embeddings = "embeddings.word_embeddings.weight";
  n.token_type_embeddings = "embeddings.token_type_embeddings.weight";
  n.embedding_norm = "emb_ln";
  n.layer = "encoder.layers.";
  n.qkv = "attn.Wqkv";
  n.attention_output = "attn.out_proj";
  n.attention_norm = "norm1";
  // fc12 is the activated half: y = fc11(x) * act(fc12(x)).
  n.ffn_up = gated ? "mlp.fc11" : "mlp.fc1";
  if (gated) n.ffn_gate = "mlp.fc12";
  n.ffn_down = "mlp.fc2";
  n.ffn_norm = "norm2";
  n.ignored = {"pooler.", "embeddings.position_ids"};
  return n;
}

void set_full_rotary(TransformerSpec& s, double base) {
  s.position = PositionKind::kRotary;
  s.rotary.dim = s.head_dim();
  s.rotary.base = base;
}

// NomicBERT as nomic's remote code (configuration_hf_nomic_bert.py, a GPT2Config) describes it.
TransformerSpec build_nomic_bert_hub(const ConfigReader& r) {
  TransformerSpec s;
  s.hidden_size = r.positive_int("n_embd");
  s.num_hidden_layers = r.positive_int("n_layer");
  s.num_attention_heads = r.positive_int("n_head");
  check_heads(r, s, "n_head", "n_embd");
  // The model pads the vocabulary up to a multiple (nomic-embed-text: 30528 rows).
  const int64_t multiple = r.positive_int_or("pad_vocab_size_multiple", 1);
  s.vocab_size = (r.positive_int("vocab_size") + multiple - 1) / multiple * multiple;
  const std::string act = r.string_or("activation_function", "gelu_new");
  const bool gated = act == "swiglu" || act == "geglu";
  if (!gated && act != "gelu" && act != "gelu_new" && act != "gelu_fast" &&
      act != "gelu_pytorch_tanh") {
    r.fail(ErrorCode::kUnsupported, "activation_function",
           "'" + act +
               "' is not supported (expected swiglu, geglu, gelu, gelu_new, gelu_fast or "
               "gelu_pytorch_tanh)");
  }
  // The remote code passes F.gelu (erf) for every gelu name, and F.silu for swiglu.
  s.hidden_act = act == "swiglu" ? kernels::Activation::kSilu : kernels::Activation::kGeluErf;
  s.mlp = gated ? MlpKind::kGated : MlpKind::kPlain;
  int64_t inner = r.non_negative_int_or("n_inner", 0);
  if (inner == 0) inner = gated ? 8 * s.hidden_size / 3 : 4 * s.hidden_size;
  if (gated) inner = (inner + 255) / 256 * 256;  // the gated MLP rounds up to a multiple of 256
  s.intermediate_size = inner;
  s.layer_norm_eps = r.number_or("layer_norm_epsilon", 1e-5);
  s.type_vocab_size = r.non_negative_int_or("type_vocab_size", 2);
  s.max_position_embeddings = r.positive_int_or("n_positions", 1024);
  if (r.bool_or("prenorm", false)) {
    r.fail(ErrorCode::kUnsupported, "prenorm", "true is not supported (expected false)");
  }
  const auto fraction_it = r.root().find("rotary_emb_fraction");
  const double fraction = fraction_it == r.root().end() || fraction_it->is_null()
                              ? 0.0
                              : r.number_or("rotary_emb_fraction", 0.0);
  if (fraction <= 0.0 || fraction > 1.0) {
    r.fail(ErrorCode::kUnsupported, "rotary_emb_fraction",
           fraction_it == r.root().end() || fraction_it->is_null()
               ? std::string("missing (learned position embeddings are not supported; expected a "
                             "number in (0, 1])")
               : fraction_it->dump() + " is not supported (expected a number in (0, 1])");
  }
  const double rotary_dim = fraction * double(s.head_dim());
  if (rotary_dim != std::floor(rotary_dim) || int64_t(rotary_dim) % 2 != 0) {
    r.fail(ErrorCode::kInvalidModel, "rotary_emb_fraction",
           fraction_it->dump() + " of head dimension " + std::to_string(s.head_dim()) + " gives " +
               nlohmann::json(rotary_dim).dump() +
               " rotary dimensions (expected an even whole number)");
  }
  s.position = PositionKind::kRotary;
  s.rotary.dim = int64_t(rotary_dim);
  s.rotary.base = 1000.0;
  if (const auto it = r.root().find("rotary_emb_base"); it != r.root().end() && !it->is_null()) {
    s.rotary.base = positive_number(r, *it, "rotary_emb_base");
  }
  s.rotary.interleaved = r.bool_or("rotary_emb_interleaved", false);
  // Dynamic NTK rescales per batch, by the padded batch length, past max_trained_positions.
  if (const auto it = r.root().find("rotary_scaling_factor");
      it != r.root().end() && !it->is_null()) {
    r.fail(ErrorCode::kUnsupported, "rotary_scaling_factor",
           it->dump() + " is not supported (expected null: no dynamic NTK scaling)");
  }
  s.attention_bias = r.bool_or("qkv_proj_bias", true);  // Wqkv and out_proj alike
  s.mlp_bias = r.bool_or("mlp_fc1_bias", true);
  s.mlp_down_bias = r.bool_or("mlp_fc2_bias", true);
  s.names = nomic_bert_names(gated);
  return s;
}

// NomicBERT: transformers 5's NomicBertConfig, or the Hub form (GPT-2 names, n_embd, ...).
TransformerSpec build_nomic_bert(const ConfigReader& r) {
  if (r.root().contains("n_embd")) return build_nomic_bert_hub(r);
  TransformerSpec s;
  s.vocab_size = r.positive_int("vocab_size");
  s.hidden_size = r.positive_int("hidden_size");
  s.num_hidden_layers = r.positive_int("num_hidden_layers");
  s.num_attention_heads = r.positive_int("num_attention_heads");
  check_heads(r, s, "num_attention_heads", "hidden_size");
  check_head_dim(r, s);
  s.intermediate_size = r.positive_int("intermediate_size");
  s.hidden_act = parse_activation(r, "hidden_act", "silu");
  s.layer_norm_eps = r.number_or("layer_norm_eps", 1e-12);
  s.max_position_embeddings = r.positive_int_or("max_position_embeddings", 2048);
  s.type_vocab_size = r.non_negative_int_or("type_vocab_size", 2);
  set_full_rotary(s, hf_rope_theta(r, 1000.0));
  s.mlp = MlpKind::kGated;  // act(gate_proj(x)) * up_proj(x) whatever hidden_act is
  s.attention_bias = false;
  s.mlp_bias = false;
  s.names = nomic_bert_names(true);
  return s;
}

WeightNames gte_names(bool packed_qkv) {
  WeightNames n;
  n.word_embeddings = "embeddings.word_embeddings.weight";
  n.token_type_embeddings = "embeddings.token_type_embeddings.weight";
  n.embedding_norm = "embeddings.LayerNorm";
  n.layer = "encoder.layer.";
  if (packed_qkv) {
    n.qkv = "attention.qkv_proj";
  } else {
    n.query = "attention.q_proj";
    n.key = "attention.k_proj";
    n.value = "attention.v_proj";
  }
  n.attention_output = "attention.o_proj";
  n.attention_norm = "attn_ln";
  n.ffn_up = "mlp.up_gate_proj";  // fused [up; gate]: gate_activated_first = false
  n.ffn_down = "mlp.down_proj";
  n.ffn_norm = "mlp_ln";
  n.ignored = {"pooler.", "embeddings.position_ids"};
  return n;
}

// What both GTE forms share: BERT field names, a gated MLP whose up projection has no bias.
TransformerSpec gte_common(const ConfigReader& r, int64_t default_positions) {
  TransformerSpec s;
  read_bert_dimensions(r, s);
  s.hidden_act = parse_activation(r, "hidden_act");
  s.layer_norm_eps = r.number_or("layer_norm_eps", 1e-12);
  s.max_position_embeddings = r.positive_int_or("max_position_embeddings", default_positions);
  s.type_vocab_size = r.non_negative_int_or("type_vocab_size", 1);
  s.mlp = MlpKind::kGated;
  s.gate_activated_first = false;
  s.mlp_bias = false;
  s.mlp_down_bias = true;
  return s;
}

// GTE as transformers 5's GteConfig describes it.
TransformerSpec build_gte(const ConfigReader& r) {
  TransformerSpec s = gte_common(r, 8192);
  check_head_dim(r, s);
  set_full_rotary(s, hf_rope_theta(r, 160000.0));
  s.names = gte_names(true);
  return s;
}

// GTE as Alibaba-NLP/new-impl's NewConfig (model_type "new") describes it.
TransformerSpec build_gte_new(const ConfigReader& r) {
  TransformerSpec s = gte_common(r, 2048);
  const std::string position = r.string_or("position_embedding_type", "rope");
  if (position != "rope") {
    r.fail(ErrorCode::kUnsupported, "position_embedding_type",
           "'" + position + "' is not supported (expected \"rope\")");
  }
  const std::string norm = r.string_or("layer_norm_type", "layer_norm");
  if (norm != "layer_norm") {
    r.fail(ErrorCode::kUnsupported, "layer_norm_type",
           "'" + norm + "' is not supported (expected \"layer_norm\")");
  }
  if (r.bool_or("logn_attention_scale", false)) {
    r.fail(ErrorCode::kUnsupported, "logn_attention_scale",
           "true is not supported (expected false)");
  }
  double base = 10000.0;
  if (const auto it = r.root().find("rope_theta"); it != r.root().end() && !it->is_null()) {
    base = positive_number(r, *it, "rope_theta");
  }
  set_full_rotary(s, base);
  if (const json* scaling = object_or_null(r, "rope_scaling")) {
    const auto type = scaling->find("type");
    if (type == scaling->end()) {
      r.fail(ErrorCode::kInvalidModel, "rope_scaling.type", "missing (expected \"ntk\")");
    }
    if (*type != "ntk") {
      r.fail(ErrorCode::kUnsupported, "rope_scaling.type",
             type->dump() + " is not supported (expected \"ntk\")");
    }
    const auto factor_it = scaling->find("factor");
    if (factor_it == scaling->end()) {
      r.fail(ErrorCode::kInvalidModel, "rope_scaling.factor", "missing (expected a number > 1)");
    }
    if (!factor_it->is_number() || !(factor_it->get<double>() > 1.0)) {
      r.fail(ErrorCode::kUnsupported, "rope_scaling.factor",
             factor_it->dump() + " is not supported (expected a number > 1)");
    }
    if (const auto mixed = scaling->find("mixed_b"); mixed != scaling->end() && !mixed->is_null()) {
      r.fail(ErrorCode::kUnsupported, "rope_scaling.mixed_b",
             mixed->dump() + " is not supported (expected null)");
    }
    // new-impl's NTKScalingRotaryEmbedding builds its table for max_position_embeddings * factor
    // positions at load, which always takes its scaled branch: base * factor, and every
    // frequency divided by factor^(2 / dim). Short and long inputs alike.
    const double factor = factor_it->get<double>();
    s.rotary.base = base * factor;
    s.rotary.inv_freq_divisor = std::pow(factor, 2.0 / double(s.rotary.dim));
  }
  s.names = gte_names(r.bool_or("pack_qkv", true));
  return s;
}

// MPNet: BERT's post-LN layers under other names, no token type embeddings, RoBERTa's positions
// and one relative position bias table shared by all layers.
TransformerSpec build_mpnet(const ConfigReader& r) {
  TransformerSpec s;
  read_bert_dimensions(r, s);
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

// ---- Decoder families: Qwen3 and Gemma 3 ----------------------------------------------------
// Decoder-only language models used as embedders: RMSNorm pre-norm blocks with a final norm,
// rotary positions, grouped-query attention with its own head size, per-head q/k norms and a gated
// MLP without biases. The encoder needs their input embeddings only (no LM head).

// num_key_value_heads and head_dim, which decoder configs carry beside num_attention_heads.
void read_decoder_attention(const ConfigReader& r, TransformerSpec& s) {
  s.num_key_value_heads = r.positive_int_or("num_key_value_heads", s.num_attention_heads);
  if (s.num_attention_heads % s.num_key_value_heads != 0) {
    r.fail(ErrorCode::kInvalidModel, "num_key_value_heads",
           std::to_string(s.num_key_value_heads) + " does not divide num_attention_heads " +
               std::to_string(s.num_attention_heads));
  }
  s.attention_head_size = r.positive_int("head_dim");
  if (s.attention_head_size % 2 != 0) {
    r.fail(ErrorCode::kInvalidModel, "head_dim",
           std::to_string(s.attention_head_size) + " is odd (expected an even size for rotary)");
  }
}

// The fields of config.json every decoder family here shares (LLaMA's names).
void read_decoder_dimensions(const ConfigReader& r, TransformerSpec& s) {
  s.vocab_size = r.positive_int("vocab_size");
  s.hidden_size = r.positive_int("hidden_size");
  s.num_hidden_layers = r.positive_int("num_hidden_layers");
  s.num_attention_heads = r.positive_int("num_attention_heads");
  s.intermediate_size = r.positive_int("intermediate_size");
  read_decoder_attention(r, s);
  s.max_position_embeddings = r.positive_int("max_position_embeddings");
  s.layer_norm_eps = r.number_or("rms_norm_eps", 1e-6);
  s.type_vocab_size = 0;
  s.norm_placement = NormPlacement::kPre;
  s.norm_kind = NormKind::kRms;
  s.norm_bias = false;
  s.mlp = MlpKind::kGated;
  s.mlp_bias = false;
  s.attention_bias = r.bool_or("attention_bias", false);
  s.position = PositionKind::kRotary;
  s.rotary.dim = s.head_dim();
}

// LLaMA-style names (Qwen3, Gemma 3): embed_tokens, layers.N.self_attn.q_proj, mlp.gate_proj ...
WeightNames decoder_names() {
  WeightNames n;
  n.word_embeddings = "embed_tokens.weight";
  n.layer = "layers.";
  n.query = "self_attn.q_proj";
  n.key = "self_attn.k_proj";
  n.value = "self_attn.v_proj";
  n.attention_output = "self_attn.o_proj";
  n.query_norm = "self_attn.q_norm";
  n.key_norm = "self_attn.k_norm";
  n.attention_norm = "input_layernorm";
  n.ffn_gate = "mlp.gate_proj";
  n.ffn_up = "mlp.up_proj";
  n.ffn_down = "mlp.down_proj";
  n.final_norm = "norm";
  return n;
}

// layer_types, each "full_attention" or "sliding_attention" (true), num_hidden_layers of them.
std::vector<bool> read_layer_types(const ConfigReader& r, int64_t layers) {
  const auto it = r.root().find("layer_types");
  if (!it->is_array() || int64_t(it->size()) != layers) {
    r.fail(ErrorCode::kInvalidModel, "layer_types",
           "expected an array of num_hidden_layers (" + std::to_string(layers) +
               ") strings, found " + it->dump());
  }
  std::vector<bool> local;
  for (const auto& type : *it) {
    if (type == "full_attention") {
      local.push_back(false);
    } else if (type == "sliding_attention") {
      local.push_back(true);
    } else {
      r.fail(ErrorCode::kUnsupported, "layer_types",
             "layer " + std::to_string(local.size()) + ": " + type.dump() +
                 " is not supported (expected \"full_attention\" or \"sliding_attention\")");
    }
  }
  return local;
}

// Qwen3 (Qwen3-Embedding): causal attention, SwiGLU, q/k norms, one rotary base.
TransformerSpec build_qwen3(const ConfigReader& r) {
  TransformerSpec s;
  read_decoder_dimensions(r, s);
  s.hidden_act = parse_activation(r, "hidden_act", "silu");
  s.causal = true;
  if (r.bool_or("use_sliding_window", false)) {
    r.fail(ErrorCode::kUnsupported, "use_sliding_window", "true is not supported (expected false)");
  }
  if (const auto it = r.root().find("layer_types"); it != r.root().end() && !it->is_null()) {
    const std::vector<bool> local = read_layer_types(r, s.num_hidden_layers);
    if (const auto sliding = std::find(local.begin(), local.end(), true); sliding != local.end()) {
      r.fail(ErrorCode::kUnsupported, "layer_types",
             "layer " + std::to_string(sliding - local.begin()) +
                 ": \"sliding_attention\" is not supported (expected \"full_attention\")");
    }
  }
  s.rotary.base = hf_rope_theta(r, 10000.0);
  s.names = decoder_names();
  s.names.ffn_norm = "post_attention_layernorm";
  return s;
}

// One layer kind's rotary base from Gemma 3's rope_parameters[kind] (transformers 5) or the
// legacy top-level field.
double gemma3_rope_theta(const ConfigReader& r, const char* kind, const char* legacy,
                         double fallback) {
  double theta = fallback;
  if (const auto it = r.root().find(legacy); it != r.root().end() && !it->is_null()) {
    theta = positive_number(r, *it, legacy);
  }
  const json* params = object_or_null(r, "rope_parameters");
  if (!params) return theta;
  const auto entry = params->find(kind);
  if (entry == params->end() || entry->is_null()) return theta;
  const std::string field = std::string("rope_parameters.") + kind;
  if (!entry->is_object()) r.fail(ErrorCode::kInvalidModel, field, "expected an object");
  if (const auto type = entry->find("rope_type"); type != entry->end() && *type != "default") {
    r.fail(ErrorCode::kUnsupported, field + ".rope_type",
           type->dump() + " is not supported (expected \"default\")");
  }
  if (const auto it = entry->find("rope_theta"); it != entry->end()) {
    theta = positive_number(r, *it, field + ".rope_theta");
  }
  return theta;
}

// Gemma 3 text (EmbeddingGemma): RMSNorm x * (1 + w), embeddings scaled by sqrt(hidden), GeGLU,
// q/k norms, norms on the attention and MLP outputs too, sliding-window or full attention per
// layer with a rotary base each, scores scaled by query_pre_attn_scalar^-0.5.
TransformerSpec build_gemma3_text(const ConfigReader& r) {
  TransformerSpec s;
  read_decoder_dimensions(r, s);
  s.hidden_act = parse_activation(r, "hidden_activation", "gelu_pytorch_tanh");
  s.norm_weight_offset = 1.0;
  s.embedding_scale = std::sqrt(double(s.hidden_size));
  double scalar = 256.0;
  if (const auto it = r.root().find("query_pre_attn_scalar"); it != r.root().end()) {
    scalar = positive_number(r, *it, "query_pre_attn_scalar");
  }
  s.attention_scale = std::pow(scalar, -0.5);
  for (const char* field : {"attn_logit_softcapping"}) {
    if (const auto it = r.root().find(field); it != r.root().end() && !it->is_null()) {
      r.fail(ErrorCode::kUnsupported, field, it->dump() + " is not supported (expected null)");
    }
  }
  // Causal Gemma 3 (a chat model) is not an embedder; EmbeddingGemma sets this.
  if (!r.bool_or("use_bidirectional_attention", false)) {
    r.fail(ErrorCode::kUnsupported, "use_bidirectional_attention",
           "missing or false is not supported (expected true, as EmbeddingGemma)");
  }
  if (const auto it = r.root().find("layer_types"); it != r.root().end() && !it->is_null()) {
    s.local_layers = read_layer_types(r, s.num_hidden_layers);
  } else {  // transformers' fallback: every sliding_window_pattern-th layer is full
    const int64_t pattern = r.positive_int_or("sliding_window_pattern", 6);
    for (int64_t l = 0; l < s.num_hidden_layers; ++l)
      s.local_layers.push_back((l + 1) % pattern != 0);
  }
  if (std::find(s.local_layers.begin(), s.local_layers.end(), true) != s.local_layers.end()) {
    // transformers keeps sliding_window / 2 + 1 as an exclusive bound on |i - j| for bidirectional
    // attention: token i sees tokens j with |i - j| <= sliding_window / 2.
    s.local_window = r.positive_int("sliding_window") / 2;
    if (s.local_window == 0) {
      r.fail(ErrorCode::kInvalidModel, "sliding_window", "1 leaves no window (expected >= 2)");
    }
  }
  if (const json* scaling = object_or_null(r, "rope_scaling")) {
    r.fail(ErrorCode::kUnsupported, "rope_scaling",
           scaling->dump() + " is not supported (expected null: plain rotary positions)");
  }
  s.rotary.base = gemma3_rope_theta(r, "full_attention", "rope_theta", 1000000.0);
  s.rotary.local_base = gemma3_rope_theta(r, "sliding_attention", "rope_local_base_freq", 10000.0);
  s.names = decoder_names();
  s.names.post_attention_norm = "post_attention_layernorm";
  s.names.ffn_norm = "pre_feedforward_layernorm";
  s.names.post_ffn_norm = "post_feedforward_layernorm";
  return s;
}

struct Family {
  std::string_view model_type;
  // Accepted `architectures`: <prefix>Model and every <prefix>For* head on the same encoder.
  std::string_view architecture_prefix;
  TransformerSpec (*build)(const ConfigReader&);
  // The base model's class where it is not <prefix>Model (Gemma3TextModel).
  std::string_view model_class = {};
};

constexpr Family kFamilies[] = {
    {"bert", "Bert", build_bert},
    {"distilbert", "DistilBert", build_distilbert},
    {"gemma3_text", "Gemma3", build_gemma3_text, "Gemma3TextModel"},
    {"gte", "Gte", build_gte},
    {"modernbert", "ModernBert", build_modernbert},
    {"mpnet", "MPNet", build_mpnet},
    {"new", "New", build_gte_new},
    {"nomic_bert", "NomicBert", build_nomic_bert},
    {"qwen3", "Qwen3", build_qwen3},
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
  const std::string model = family.model_class.empty()
                                ? std::string(family.architecture_prefix) + "Model"
                                : std::string(family.model_class);
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

kernels::Activation parse_activation_name(const std::string& name, const std::string& file,
                                          const std::string& field) {
  if (name == "gelu") return kernels::Activation::kGeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") {
    return kernels::Activation::kGeluTanh;
  }
  if (name == "relu") return kernels::Activation::kRelu;
  if (name == "silu" || name == "swish") return kernels::Activation::kSilu;
  throw Error(ErrorCode::kUnsupported,
              file + ": " + field + ": '" + name +
                  "' is not supported (expected gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, "
                  "relu, silu or swish)");
}

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

int64_t ffn_chunk_tokens(int64_t up_width) noexcept {
  constexpr int64_t kBudgetFloats = int64_t{4} << 20 >> 2;  // 4 MiB of fp32
  const int64_t rows = up_width > 0 ? kBudgetFloats / up_width / 48 * 48 : 480;
  return std::clamp<int64_t>(rows, 144, 480);
}

int64_t ffn_chunk_tokens(const TransformerSpec& spec) noexcept {
  return ffn_chunk_tokens(spec.intermediate_size * (spec.mlp == MlpKind::kGated ? 2 : 1));
}

}  // namespace embedrt::model
