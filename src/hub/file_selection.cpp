#include "hub/file_selection.h"

#include <fnmatch.h>

#include <algorithm>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace embedrt::hub {
namespace {

const std::set<std::string> kTopLevelFiles = {
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "spiece.model",
    "tokenizer.model",
};

// Weights in formats embedrt never reads, and the exported-runtime folders.
bool is_foreign_weight(const std::string& name) {
  static const std::vector<std::string> kSuffixes = {".onnx", ".onnx_data", ".h5",      ".msgpack",
                                                     ".ot",   ".tflite",    ".mlmodel", ".gguf"};
  return std::any_of(kSuffixes.begin(), kSuffixes.end(), [&](const std::string& suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  });
}

bool in_export_folder(const std::string& path) {
  for (const char* folder : {"onnx/", "openvino/", "coreml/"}) {
    if (path.rfind(folder, 0) == 0 || path.find(std::string("/") + folder) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string folder_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

std::string name_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool is_safetensors(const std::string& name) { return matches_glob(name, "*.safetensors"); }

bool is_pytorch_weight(const std::string& name) {
  return matches_glob(name, "pytorch_model*.bin") || name == "pytorch_model.bin.index.json";
}

}  // namespace

bool matches_glob(const std::string& path, const std::string& pattern) {
  std::string p = pattern;
  if (!p.empty() && p.back() == '/') p += '*';
  return ::fnmatch(p.c_str(), path.c_str(), FNM_NOESCAPE) == 0;
}

std::vector<std::string> select_matching(const std::vector<std::string>& files,
                                         const std::vector<std::string>& patterns) {
  std::vector<std::string> out;
  for (const auto& file : files) {
    if (std::any_of(patterns.begin(), patterns.end(),
                    [&](const std::string& p) { return matches_glob(file, p); })) {
      out.push_back(file);
    }
  }
  return out;
}

std::vector<std::string> select_default(const std::vector<std::string>& files,
                                        const std::vector<std::string>& module_paths) {
  // Folders ("" for the top) that hold safetensors weights: their .bin weights are redundant.
  std::set<std::string> with_safetensors;
  for (const auto& file : files) {
    if (is_safetensors(name_of(file))) with_safetensors.insert(folder_of(file));
  }
  const auto in_module = [&](const std::string& file) {
    return std::any_of(module_paths.begin(), module_paths.end(), [&](const std::string& m) {
      return file.size() > m.size() && file.compare(0, m.size(), m) == 0 && file[m.size()] == '/';
    });
  };

  std::vector<std::string> out;
  for (const auto& file : files) {
    const std::string folder = folder_of(file);
    const std::string name = name_of(file);
    if (in_export_folder(file) || is_foreign_weight(name)) continue;
    if (is_pytorch_weight(name) && with_safetensors.count(folder)) continue;
    bool wanted = false;
    if (folder.empty()) {
      wanted = kTopLevelFiles.count(name) || is_safetensors(name) ||
               name == "model.safetensors.index.json" || is_pytorch_weight(name);
    } else {
      wanted = in_module(file);
    }
    if (wanted) out.push_back(file);
  }
  return out;
}

std::vector<std::string> module_paths_from_modules_json(const std::string& text) {
  const auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_array()) throw std::runtime_error("expected a JSON list of modules");
  std::vector<std::string> paths;
  for (size_t i = 0; i < doc.size(); ++i) {
    const auto& module = doc[i];
    std::string where = "[";  // (not "[" + to_string(i): GCC 12 warns, -Wrestrict)
    where += std::to_string(i) + "].path";
    if (!module.is_object() || !module.contains("path") || !module["path"].is_string()) {
      throw std::runtime_error(where + ": expected a string");
    }
    std::string path = module["path"].get<std::string>();
    while (!path.empty() && path.back() == '/') path.pop_back();
    if (path.empty()) continue;
    if (!is_safe_repo_path(path)) {
      throw std::runtime_error(where + ": \"" + path + "\" is not a folder inside the repository");
    }
    paths.push_back(path);
  }
  return paths;
}

bool is_safe_repo_path(const std::string& path) {
  if (path.empty() || path.find('\\') != std::string::npos ||
      path.find('\0') != std::string::npos) {
    return false;
  }
  size_t start = 0;
  while (true) {
    const auto slash = path.find('/', start);
    const std::string part = path.substr(start, slash == std::string::npos ? slash : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

}  // namespace embedrt::hub
