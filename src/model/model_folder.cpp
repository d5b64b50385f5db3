#include "model/model_folder.h"

#include <string_view>

#include "embedrt/error.h"
#include "model/json_file.h"

namespace embedrt::model {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void bad_field(const fs::path& file, const std::string& field,
                            const std::string& what) {
  throw Error(ErrorCode::kInvalidModel, file.string() + ": " + field + ": " + what);
}

void read_modules(const fs::path& file, ModelFolder& folder) {
  const nlohmann::json modules = load_json_file(file);
  if (!modules.is_array()) bad_field(file, "$", "expected an array of modules");
  if (modules.empty()) bad_field(file, "$", "no Transformer or StaticEmbedding module");
  for (size_t i = 0; i < modules.size(); ++i) {
    const auto& module = modules[i];
    const std::string where = "$[" + std::to_string(i) + "]";
    if (!module.is_object() || !module.contains("type") || !module["type"].is_string()) {
      bad_field(file, where + ".type", "expected a string naming the module class");
    }
    const std::string type = module["type"].get<std::string>();
    std::string path;
    if (module.contains("path")) {
      if (!module["path"].is_string()) bad_field(file, where + ".path", "expected a string");
      path = module["path"].get<std::string>();
    }
    const std::string_view name = st_class_name(type);
    const auto misplaced = [&](const std::string& why) {
      throw Error(ErrorCode::kUnsupported,
                  file.string() + ": " + where + ".type: module type '" + type + "' " + why);
    };
    const bool input_module = name == "Transformer" || name == "StaticEmbedding";
    if (input_module != (i == 0)) {
      misplaced(i == 0 ? "cannot come first (expected Transformer or StaticEmbedding)"
                       : "is supported only as the first module");
    }
    if (name == "Transformer") {
      folder.input = InputModule::kTransformer;
      folder.transformer_dir = folder.dir / path;
    } else if (name == "StaticEmbedding") {
      folder.input = InputModule::kStaticEmbedding;
      folder.transformer_dir = folder.dir / path;
    } else if (name == "Pooling") {
      if (folder.input == InputModule::kStaticEmbedding) {
        misplaced("after StaticEmbedding is not supported (StaticEmbedding pools by itself)");
      }
      if (folder.pooling_dir || !folder.output_modules.empty()) {
        misplaced("is supported only once, right after the Transformer");
      }
      folder.pooling_dir = folder.dir / path;
    } else if (name == "Dense" || name == "LayerNorm" || name == "Normalize") {
      const auto kind = name == "Dense"       ? OutputModule::Kind::kDense
                        : name == "LayerNorm" ? OutputModule::Kind::kLayerNorm
                                              : OutputModule::Kind::kNormalize;
      folder.output_modules.push_back({kind, folder.dir / path});
    } else {
      throw Error(ErrorCode::kUnsupported,
                  file.string() + ": " + where + ".type: module type '" + type +
                      "' is not supported (embedrt runs Transformer or StaticEmbedding, then "
                      "Pooling, Dense, LayerNorm, Normalize)");
    }
  }
  if (!folder.output_modules.empty() &&
      folder.output_modules.back().kind == OutputModule::Kind::kNormalize) {
    folder.output_modules.pop_back();
    folder.normalize = true;
  }
}

std::optional<size_t> positive_size(const nlohmann::json& config, const fs::path& file,
                                    const char* key) {
  if (!config.contains(key) || config[key].is_null()) return std::nullopt;
  const auto& value = config[key];
  if (!value.is_number_integer() || value.get<int64_t>() <= 0) {
    bad_field(file, std::string("$.") + key, "expected a positive integer");
  }
  return static_cast<size_t>(value.get<int64_t>());
}

}  // namespace

ModelFolder read_model_folder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error(ErrorCode::kIo, dir.string() + ": model folder does not exist");
  }
  ModelFolder folder;
  folder.dir = dir;
  folder.transformer_dir = dir;

  const fs::path modules_file = dir / "modules.json";
  if (fs::exists(modules_file, ec)) {
    read_modules(modules_file, folder);
  } else if (fs::is_directory(dir / "1_Pooling", ec)) {
    folder.pooling_dir = dir / "1_Pooling";
  }

  const fs::path st_config_file = folder.transformer_dir / "sentence_bert_config.json";
  if (auto config = load_optional_json_file(st_config_file)) {
    if (!config->is_object()) bad_field(st_config_file, "$", "expected an object");
    folder.max_seq_length = positive_size(*config, st_config_file, "max_seq_length");
    if (config->contains("do_lower_case")) {
      if (!(*config)["do_lower_case"].is_boolean()) {
        bad_field(st_config_file, "$.do_lower_case", "expected a boolean");
      }
      folder.do_lower_case = (*config)["do_lower_case"].get<bool>();
    }
  }

  const fs::path tokenizer_config_file = folder.transformer_dir / "tokenizer_config.json";
  if (auto config = load_optional_json_file(tokenizer_config_file)) {
    // transformers writes a huge sentinel (1e30) when a tokenizer has no limit of its own.
    if (config->is_object() && config->contains("model_max_length") &&
        (*config)["model_max_length"].is_number_integer()) {
      const int64_t limit = (*config)["model_max_length"].get<int64_t>();
      if (limit > 0 && limit < 1'000'000) folder.tokenizer_max_length = static_cast<size_t>(limit);
    }
  }

  const fs::path prompts_file = dir / "config_sentence_transformers.json";
  if (auto config = load_optional_json_file(prompts_file)) {
    if (!config->is_object()) bad_field(prompts_file, "$", "expected an object");
    if (config->contains("prompts") && !(*config)["prompts"].is_null()) {
      const auto& prompts = (*config)["prompts"];
      if (!prompts.is_object()) bad_field(prompts_file, "$.prompts", "expected an object");
      for (const auto& [name, text] : prompts.items()) {
        if (!text.is_string()) bad_field(prompts_file, "$.prompts." + name, "expected a string");
        folder.prompts[name] = text.get<std::string>();
      }
    }
    if (config->contains("default_prompt_name") && !(*config)["default_prompt_name"].is_null()) {
      const auto& name = (*config)["default_prompt_name"];
      if (!name.is_string()) bad_field(prompts_file, "$.default_prompt_name", "expected a string");
      folder.default_prompt_name = name.get<std::string>();
      if (!folder.prompts.contains(folder.default_prompt_name)) {
        bad_field(prompts_file, "$.default_prompt_name",
                  "names prompt '" + folder.default_prompt_name + "', which $.prompts lacks");
      }
    }
    if (config->contains("truncate_dim") && !(*config)["truncate_dim"].is_null()) {
      const auto& dim = (*config)["truncate_dim"];
      if (!dim.is_number_integer() || dim.get<int64_t>() < 1) {
        bad_field(prompts_file, "$.truncate_dim", "expected a positive integer");
      }
      folder.truncate_dim = static_cast<size_t>(dim.get<int64_t>());
    }
  }
  return folder;
}

// Module types are Python class paths. Releases before 6 wrote sentence_transformers.models.<Class>
// (the name 6 still loads, as an alias), 6 writes the class's own module path
// (sentence_transformers.sentence_transformer.modules.pooling.Pooling); only the class name
// matters, inside the sentence_transformers package. A class of any other package is custom code.
std::string_view st_class_name(std::string_view type) {
  constexpr std::string_view kPackage = "sentence_transformers.";
  if (!type.starts_with(kPackage)) return {};
  const auto dot = type.rfind('.');
  return type.substr(dot + 1);
}

}  // namespace embedrt::model
