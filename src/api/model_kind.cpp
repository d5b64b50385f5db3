#include "embedrt/model_kind.h"

#include <nlohmann/json.hpp>

#include "embedrt/error.h"
#include "embedrt/text_tokenizer.h"
#include "model/classifier_head.h"
#include "model/json_file.h"
#include "model/model_folder.h"
#include "model/transformer_spec.h"

namespace embedrt {
namespace fs = std::filesystem;

std::string_view to_string(ModelKind kind) noexcept {
  switch (kind) {
    case ModelKind::kEmbedding:
      return "embedding";
    case ModelKind::kReranker:
      return "reranker";
    case ModelKind::kClassifier:
      return "classifier";
    case ModelKind::kSparse:
      return "sparse";
  }
  return "embedding";
}

namespace {

std::string string_field(const nlohmann::json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

ModelKind detect_model_kind(const std::string& model) {
  const fs::path dir = resolve_model_dir(model);
  // The transformer module's folder (config.json), as modules.json places it.
  fs::path transformer_dir = dir;
  bool embedding_chain = false;  // modules.json lists Pooling, StaticEmbedding, Dense, ...
  if (const auto modules = model::load_optional_json_file(dir / "modules.json");
      modules && modules->is_array()) {
    for (const auto& module : *modules) {
      if (!module.is_object()) continue;
      const std::string type = string_field(module, "type");
      if (model::st_class_name(type) == "MLMTransformer" ||
          model::st_class_name(type) == "SpladePooling") {
        return ModelKind::kSparse;
      }
      if (model::st_class_name(type) == "Transformer") {
        transformer_dir = dir / string_field(module, "path");
      } else {
        embedding_chain = true;
      }
    }
  }
  bool cross_encoder = false;
  if (const auto st = model::load_optional_json_file(dir / "config_sentence_transformers.json");
      st && st->is_object()) {
    const std::string type = string_field(*st, "model_type");
    if (type == "SparseEncoder") return ModelKind::kSparse;
    cross_encoder = type == "CrossEncoder";
  }
  const fs::path config_path = transformer_dir / "config.json";
  const auto config = model::load_optional_json_file(config_path);
  // A SentenceTransformer chain is an embedder whatever head its checkpoint was saved with.
  if (!cross_encoder && !embedding_chain && config && config->is_object()) {
    if (const auto it = config->find("architectures"); it != config->end() && it->is_array()) {
      for (const auto& name : *it) {
        if (name.is_string() && name.get<std::string>().ends_with("ForSequenceClassification")) {
          cross_encoder = true;
        }
      }
    }
  }
  if (!cross_encoder) return ModelKind::kEmbedding;
  if (!config) {
    throw Error(ErrorCode::kInvalidModel, config_path.string() + ": not found");
  }
  // The head's own reading of the label fields, so that the kind agrees with what loads.
  const std::string text = config->dump();
  const model::TransformerSpec spec = model::parse_transformer_spec(text, config_path.string());
  const model::ClassifierHeadSpec head =
      model::parse_classifier_head(text, config_path.string(), spec);
  return head.labels.size() == 1 ? ModelKind::kReranker : ModelKind::kClassifier;
}

}  // namespace embedrt
