#include "model/model_folder.h"

#include <string_view>

#include "embedrt/error.h"
#include "model/json_file.h"

namespace embedrt::model {
namespace {

namespace fs = std::filesystem;

bool ends_with_component(std::string_view type, std::string_view name) {
  // Module types are Python class paths ("sentence_transformers.models.Pooling"); only the class
  // name matters, whatever package layout the writing version used.
  const auto dot = type.rfind('.');
  return type.substr(dot == std::string_view::npos ? 0 : dot + 1) == name;
}

[[noreturn]] void bad_field(const fs::path& file, const std::string& field,
                            const std::string& what) {
  throw Error(ErrorCode::kInvalidModel, file.string() + ": " + field + ": " + what);
}

void read_modules(const fs::path& file, ModelFolder& folder) {
  const nlohmann::json modules = load_json_file(file);
  if (!modules.is_array()) bad_field(file, "$", "expected an array of modules");
  bool has_transformer = false;
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
    if (ends_with_component(type, "Transformer")) {
      if (has_transformer) bad_field(file, where, "a second Transformer module is not supported");
      has_transformer = true;
      folder.transformer_dir = folder.dir / path;
    } else if (ends_with_component(type, "Pooling")) {
      folder.pooling_dir = folder.dir / path;
    } else if (ends_with_component(type, "Normalize")) {
      folder.normalize = true;
    } else {
      throw Error(ErrorCode::kUnsupported, file.string() + ": " + where + ".type: module type '" +
                                               type + "' is not supported");
    }
  }
  if (!has_transformer) bad_field(file, "$", "no Transformer module");
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

}  // namespace embedrt::model
