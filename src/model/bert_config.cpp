#include "model/bert_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

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

  const json& root() const { return root_; }

 private:
  const json& root_;
  const std::string& file_;
};

kernels::Activation parse_activation(const ConfigReader& r) {
  const std::string act = r.string_or("hidden_act", "gelu");
  if (act == "gelu") return kernels::Activation::kGeluErf;
  if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") {
    return kernels::Activation::kGeluTanh;
  }
  if (act == "relu") return kernels::Activation::kRelu;
  if (act == "silu" || act == "swish") return kernels::Activation::kSilu;
  r.fail(ErrorCode::kUnsupported, "hidden_act",
         "'" + act +
             "' is not supported (expected gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, "
             "relu, silu or swish)");
}

void check_architecture(const ConfigReader& r) {
  const std::string model_type = r.string_or("model_type", "");
  if (model_type != "bert") {
    r.fail(ErrorCode::kUnsupported, "model_type",
           model_type.empty() ? "missing (expected \"bert\")"
                              : "'" + model_type + "' is not supported (expected \"bert\")");
  }
  const auto it = r.root().find("architectures");
  if (it == r.root().end() || it->is_null()) return;
  if (!it->is_array()) r.fail(ErrorCode::kInvalidModel, "architectures", "expected an array");
  for (const auto& arch : *it) {
    if (!arch.is_string()) {
      r.fail(ErrorCode::kInvalidModel, "architectures", "expected strings, found " + arch.dump());
    }
    const std::string name = arch.get<std::string>();
    // Every BertFor* head sits on the same BertModel encoder, whose weights are all we use.
    if (name != "BertModel" && name.rfind("BertFor", 0) != 0) {
      r.fail(ErrorCode::kUnsupported, "architectures",
             "'" + name + "' is not a BERT encoder (expected BertModel or BertFor*)");
    }
  }
}

}  // namespace

BertConfig parse_bert_config(const std::string& json_text, const std::string& file) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for 1e400
    throw Error(ErrorCode::kInvalidModel, file + ": invalid JSON: " + e.what());
  }
  if (!root.is_object()) throw Error(ErrorCode::kInvalidModel, file + ": expected a JSON object");
  const ConfigReader r(root, file);
  check_architecture(r);

  BertConfig c;
  c.vocab_size = r.positive_int("vocab_size");
  c.hidden_size = r.positive_int("hidden_size");
  c.num_hidden_layers = r.positive_int("num_hidden_layers");
  c.num_attention_heads = r.positive_int("num_attention_heads");
  if (c.hidden_size % c.num_attention_heads != 0) {
    r.fail(ErrorCode::kInvalidModel, "num_attention_heads",
           std::to_string(c.num_attention_heads) + " does not divide hidden_size " +
               std::to_string(c.hidden_size));
  }
  c.intermediate_size = r.positive_int("intermediate_size");
  c.hidden_act = parse_activation(r);
  c.layer_norm_eps = r.number_or("layer_norm_eps", 1e-12);
  c.max_position_embeddings = r.positive_int("max_position_embeddings");
  c.type_vocab_size = r.positive_int_or("type_vocab_size", 2);
  const std::string position = r.string_or("position_embedding_type", "absolute");
  if (position != "absolute") {
    r.fail(ErrorCode::kUnsupported, "position_embedding_type",
           "'" + position + "' is not supported (expected \"absolute\")");
  }
  return c;
}

BertConfig load_bert_config(const std::filesystem::path& path) {
  return parse_bert_config(read_text_file(path), path.string());
}

}  // namespace embedrt::model
