// The pure parts of the Hub client: globs (huggingface_hub's allow_patterns, i.e. Python's
// fnmatchcase), the default file selection, modules.json, path safety and URL handling. The
// expected values are Python's (fnmatch.fnmatchcase, urllib.parse.quote / urljoin).
#include <gtest/gtest.h>

#include <stdexcept>

#include "hub/file_selection.h"
#include "hub/http_client.h"
#include "hub/snapshot_fetch.h"

namespace embedrt::hub {
namespace {

using Files = std::vector<std::string>;

TEST(HubGlob, MatchesAsPythonFnmatchcase) {
  EXPECT_TRUE(matches_glob("1_Pooling/config.json", "*.json"));  // '*' crosses '/'
  EXPECT_TRUE(matches_glob("a/b.safetensors", "*.safetensors"));
  EXPECT_TRUE(matches_glob("onnx/model.onnx", "onnx/*"));
  EXPECT_TRUE(matches_glob("onnx/model.onnx", "onnx/"));  // a folder: everything below it
  EXPECT_FALSE(matches_glob("model.safetensors", "model-*.safetensors"));
  EXPECT_TRUE(matches_glob("x.json", "[!a]*.json"));
  EXPECT_TRUE(matches_glob("a\\b", "a\\b"));  // no escapes
  EXPECT_TRUE(matches_glob("abc", "a?c"));
  EXPECT_TRUE(matches_glob(".hidden", "*"));
  EXPECT_FALSE(matches_glob("Config.json", "config.json"));  // case-sensitive
  EXPECT_EQ(select_matching({"a.json", "b.bin", "c/d.json"}, {"*.json"}),
            (Files{"a.json", "c/d.json"}));
}

TEST(HubSelection, DefaultTakesWhatEmbedrtReads) {
  const Files files = {"README.md",
                       ".gitattributes",
                       "config.json",
                       "tokenizer.json",
                       "tokenizer_config.json",
                       "special_tokens_map.json",
                       "vocab.txt",
                       "sentencepiece.bpe.model",
                       "modules.json",
                       "sentence_bert_config.json",
                       "config_sentence_transformers.json",
                       "model.safetensors",
                       "pytorch_model.bin",
                       "tf_model.h5",
                       "flax_model.msgpack",
                       "rust_model.ot",
                       "onnx/model.onnx",
                       "onnx/config.json",
                       "openvino/openvino_model.xml",
                       "1_Pooling/config.json",
                       "2_Dense/config.json",
                       "2_Dense/model.safetensors",
                       "2_Dense/pytorch_model.bin",
                       "3_Extra/pytorch_model.bin",
                       "3_Extra/model.onnx",
                       "unrelated/config.json",
                       "train_script.py"};
  EXPECT_EQ(
      select_default(files, {"1_Pooling", "2_Dense", "3_Extra"}),
      (Files{"config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
             "vocab.txt", "sentencepiece.bpe.model", "modules.json", "sentence_bert_config.json",
             "config_sentence_transformers.json", "model.safetensors", "1_Pooling/config.json",
             "2_Dense/config.json", "2_Dense/model.safetensors", "3_Extra/pytorch_model.bin"}));
}

TEST(HubSelection, PytorchWeightsOnlyWithoutSafetensors) {
  EXPECT_EQ(select_default({"config.json", "pytorch_model.bin"}, {}),
            (Files{"config.json", "pytorch_model.bin"}));
  EXPECT_EQ(select_default({"model-00001-of-00002.safetensors", "model.safetensors.index.json",
                            "pytorch_model-00001-of-00002.bin", "pytorch_model.bin.index.json"},
                           {}),
            (Files{"model-00001-of-00002.safetensors", "model.safetensors.index.json"}));
}

TEST(HubSelection, ModulesJson) {
  EXPECT_EQ(module_paths_from_modules_json(
                R"([{"idx":0,"path":""},{"idx":1,"path":"1_Pooling/"},{"path":"2_Dense"}])"),
            (Files{"1_Pooling", "2_Dense"}));
  EXPECT_THROW(module_paths_from_modules_json("{}"), std::runtime_error);
  EXPECT_THROW(module_paths_from_modules_json("not json"), std::runtime_error);
  try {
    module_paths_from_modules_json(R"([{"path":""},{"path":"../up"}])");
    FAIL() << "expected a throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("[1].path"), std::string::npos) << e.what();
  }
  EXPECT_THROW(module_paths_from_modules_json(R"([{"path":3}])"), std::runtime_error);
}

TEST(HubPaths, OnlyRelativePathsInsideTheSnapshot) {
  EXPECT_TRUE(is_safe_repo_path("config.json"));
  EXPECT_TRUE(is_safe_repo_path("1_Pooling/config.json"));
  for (const char* bad :
       {"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a/", "a\\b", "."}) {
    EXPECT_FALSE(is_safe_repo_path(bad)) << bad;
  }
  EXPECT_EQ(repo_folder_name("org/name"), "models--org--name");
  std::string repo, revision;
  split_model_id("org/name@refs/pr/1", repo, revision);
  EXPECT_EQ(repo, "org/name");
  EXPECT_EQ(revision, "refs/pr/1");
  split_model_id("org/name", repo, revision);
  EXPECT_EQ(revision, "main");
}

TEST(HubUrls, AsPythonUrllib) {
  EXPECT_EQ(url_quote("a b/\xC3\xBC+c.json", true), "a%20b/%C3%BC%2Bc.json");
  EXPECT_EQ(url_quote("refs/pr/1", false), "refs%2Fpr%2F1");
  EXPECT_EQ(url_join("http://h:1/a/b/c?x", "../d?y"), "http://h:1/a/d?y");
  EXPECT_EQ(url_join("http://h:1/a/b", "//cdn:2/x"), "http://cdn:2/x");
  EXPECT_EQ(url_join("http://h/a", "/z"), "http://h/z");
  EXPECT_EQ(url_origin("https://huggingface.co/org/name"), "https://huggingface.co:443");
  EXPECT_EQ(url_origin("http://127.0.0.1:8080/x"), "http://127.0.0.1:8080");
  EXPECT_EQ(url_origin("HTTPS://HF.co:443/x"), "https://hf.co:443");
  EXPECT_NE(url_origin("http://127.0.0.1:8080/x"), url_origin("http://127.0.0.1:8081/x"));
  EXPECT_EQ(url_origin("not a url"), "");
}

}  // namespace
}  // namespace embedrt::hub
