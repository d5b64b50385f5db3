// Arbitrary bytes as the small JSON files of a model folder. The first byte picks the file, the
// rest is its text:
//   0 config.json                         parse_transformer_spec
//   1 1_Pooling/config.json               parse_pooling_config
//   2 modules.json                        read_model_folder
//   3 sentence_bert_config.json           read_model_folder
//   4 config_sentence_transformers.json   read_model_folder
//   5 tokenizer_config.json               read_model_folder
//   6 a whole folder: the rest split at NUL bytes into modules.json, sentence_bert_config.json,
//     config_sentence_transformers.json, tokenizer_config.json, 1_Pooling/config.json and
//     config.json, read as Embedder::load reads them (folder, then config.json and pooling config)
// Parsing must either succeed with consistent values or throw embedrt::Error.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "embedrt/error.h"
#include "model/model_folder.h"
#include "model/pooling.h"
#include "model/transformer_spec.h"

namespace {

namespace fs = std::filesystem;
using namespace embedrt::model;

constexpr const char* kFolderFiles[] = {
    "modules.json",          "sentence_bert_config.json", "config_sentence_transformers.json",
    "tokenizer_config.json", "1_Pooling/config.json",     "config.json"};

// A broken invariant: says which before libFuzzer reports the crash and saves the input.
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

struct ScratchDir {
  ScratchDir() {
    path = fs::temp_directory_path() / ("embedrt_fuzz_model_config_" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

const fs::path& scratch() {
  static const ScratchDir dir;
  return dir.path;
}

void clear(const fs::path& dir) {
  for (const char* name : kFolderFiles) fs::remove(dir / name);
  fs::remove(dir / "1_Pooling");
}

void write(const fs::path& file, std::string_view text) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out) fail("cannot write the scratch file");
}

void check(const TransformerSpec& c) {
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.num_hidden_layers <= 0 ||
      c.num_attention_heads <= 0 || c.intermediate_size <= 0 || c.max_position_embeddings <= 0 ||
      c.type_vocab_size < 0 || !(c.layer_norm_eps >= 0) || c.max_sequence_length() <= 0 ||
      c.hidden_size % c.num_attention_heads != 0 || c.head_dim() <= 0) {
    fail("accepted a config.json with an out-of-range value");
  }
}

void check(const PoolingConfig& c) {
  if (c.embedding_dimension <= 0 || c.modes.empty() || c.modes.size() > 64) {
    fail("accepted a pooling config with an out-of-range value");
  }
}

void check(const ModelFolder& f) {
  if (f.max_seq_length && *f.max_seq_length == 0) fail("max_seq_length 0");
  if (f.tokenizer_max_length &&
      (*f.tokenizer_max_length == 0 || *f.tokenizer_max_length >= 1000000)) {
    fail("tokenizer_max_length out of range");
  }
  if (!f.default_prompt_name.empty() && !f.prompts.contains(f.default_prompt_name)) {
    fail("default_prompt_name names no prompt");
  }
}

// Whether `path` lies inside `dir` (module paths may point anywhere).
bool inside(const fs::path& path, const fs::path& dir) {
  const fs::path relative = path.lexically_normal().lexically_relative(dir.lexically_normal());
  return !relative.empty() && *relative.begin() != "..";
}

void read_folder(const fs::path& dir) {
  const ModelFolder folder = read_model_folder(dir);
  check(folder);
  if (inside(folder.transformer_dir, dir))
    check(load_transformer_spec(folder.transformer_dir / "config.json"));
  if (folder.pooling_dir && inside(*folder.pooling_dir, dir)) {
    check(load_pooling_config(*folder.pooling_dir / "config.json"));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const fs::path& dir = scratch();
  try {
    switch (data[0] % 7) {
      case 0:
        check(parse_transformer_spec(std::string(text), "config.json"));
        break;
      case 1:
        check(parse_pooling_config(std::string(text), "1_Pooling/config.json"));
        break;
      case 2:
      case 3:
      case 4:
      case 5:
        clear(dir);
        write(dir / kFolderFiles[data[0] % 7 - 2], text);
        check(read_model_folder(dir));
        break;
      case 6: {
        clear(dir);
        std::string_view rest = text;
        for (const char* name : kFolderFiles) {
          const size_t end = rest.find('\0');
          write(dir / name, rest.substr(0, end));
          if (end == std::string_view::npos) break;
          rest.remove_prefix(end + 1);
        }
        read_folder(dir);
        break;
      }
    }
  } catch (const embedrt::Error&) {
  }
  return 0;
}
