// Which files of a Hub repository `embedrt fetch` downloads.
#pragma once

#include <string>
#include <vector>

namespace embedrt::hub {

// huggingface_hub's allow_patterns rule: `pattern` matched as Python's fnmatch.fnmatchcase ('*'
// also matches '/'; no escapes), a pattern ending in '/' matching everything below that folder.
bool matches_glob(const std::string& path, const std::string& pattern);

// The files matching any of `patterns`, in `files` order.
std::vector<std::string> select_matching(const std::vector<std::string>& files,
                                         const std::vector<std::string>& patterns);

// What embedrt reads to run a model, from the repository's file list:
// - at the top: config.json, the tokenizer files (tokenizer.json, tokenizer_config.json,
//   special_tokens_map.json, added_tokens.json, vocab.txt, vocab.json, merges.txt and the
//   SentencePiece models), modules.json, sentence_bert_config.json,
//   config_sentence_transformers.json, *.safetensors and their index;
// - every file in the module folders modules.json names (`module_paths`: 1_Pooling, 2_Dense...);
// - PyTorch .bin weights only in a folder without *.safetensors; never onnx/, openvino/, ONNX,
//   TensorFlow, Flax or Rust weights.
std::vector<std::string> select_default(const std::vector<std::string>& files,
                                        const std::vector<std::string>& module_paths);

// The non-empty "path" entries of a modules.json document (one folder each, no trailing '/').
// Throws std::runtime_error naming the entry when the document is not what sentence-transformers
// writes (a list of objects whose "path" is a relative folder inside the repository).
std::vector<std::string> module_paths_from_modules_json(const std::string& text);

// A repository path that may become a file under snapshots/<commit>/: relative, '/'-separated,
// no empty, "." or ".." parts, no backslash or NUL.
bool is_safe_repo_path(const std::string& path);

}  // namespace embedrt::hub
