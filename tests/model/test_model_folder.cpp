#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "embedrt/error.h"
#include "model/model_folder.h"

namespace embedrt::model {
namespace {

namespace fs = std::filesystem;

class ModelFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("embedrt-folder-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& content) {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name) << content;
  }

  // Runs read_model_folder and returns the error message (empty when it succeeds).
  std::string error_of() {
    try {
      read_model_folder(dir_);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(ModelFolderTest, ReadsSentenceTransformersLayout) {
  write("modules.json", R"([
    {"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
    {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
    {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}])");
  write("sentence_bert_config.json", R"({"max_seq_length": 256, "do_lower_case": true})");
  write(
      "config_sentence_transformers.json",
      R"({"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": "query"})");
  write("tokenizer_config.json", R"({"model_max_length": 1000000000000000019884624838656})");
  const ModelFolder folder = read_model_folder(dir_);
  EXPECT_EQ(folder.transformer_dir, dir_ / "");
  ASSERT_TRUE(folder.pooling_dir.has_value());
  EXPECT_EQ(*folder.pooling_dir, dir_ / "1_Pooling");
  EXPECT_TRUE(folder.normalize);
  EXPECT_EQ(folder.max_seq_length, 256u);
  EXPECT_TRUE(folder.do_lower_case);
  EXPECT_FALSE(folder.tokenizer_max_length.has_value());  // the "no limit" sentinel
  EXPECT_EQ(folder.prompts.at("query"), "query: ");
  EXPECT_EQ(folder.default_prompt_name, "query");
}

TEST_F(ModelFolderTest, PlainTransformersFolderHasNoModules) {
  write("config.json", "{}");
  write("tokenizer_config.json", R"({"model_max_length": 512})");
  const ModelFolder folder = read_model_folder(dir_);
  EXPECT_FALSE(folder.normalize);
  EXPECT_FALSE(folder.pooling_dir.has_value());
  EXPECT_EQ(folder.tokenizer_max_length, 512u);
}

TEST_F(ModelFolderTest, MissingFolderNamesIt) {
  fs::remove_all(dir_);
  EXPECT_NE(error_of().find(dir_.string() + ": model folder does not exist"), std::string::npos);
}

TEST_F(ModelFolderTest, InvalidJsonNamesTheFile) {
  write("modules.json", "[{\"type\": ");
  const std::string message = error_of();
  EXPECT_NE(message.find("modules.json: invalid JSON"), std::string::npos) << message;
}

TEST_F(ModelFolderTest, NumberTooLargeForADoubleIsInvalidJson) {
  // nlohmann::json throws out_of_range, not parse_error, for a number it cannot hold.
  write("sentence_bert_config.json", R"({"max_seq_length": 1e400})");
  const std::string message = error_of();
  EXPECT_NE(message.find("sentence_bert_config.json: invalid JSON"), std::string::npos) << message;
}

TEST_F(ModelFolderTest, UnsupportedModuleNamesItsType) {
  write("modules.json", R"([
    {"path":"","type":"sentence_transformers.models.Transformer"},
    {"path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
    {"path":"2_Weighted","type":"sentence_transformers.models.WeightedLayerPooling"}])");
  std::string message = error_of();
  EXPECT_NE(message.find("modules.json: $[2].type: module type "
                         "'sentence_transformers.models.WeightedLayerPooling' is not supported"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
  // Only classes of the sentence_transformers package: another package's Dense is custom code.
  write("modules.json", R"([
    {"path":"","type":"sentence_transformers.models.Transformer"},
    {"path":"2_Dense","type":"custom.Dense"}])");
  message = error_of();
  EXPECT_NE(message.find("modules.json: $[1].type: module type 'custom.Dense' is not supported"),
            std::string::npos)
      << message;
}

TEST_F(ModelFolderTest, ReadsTheChainUnderOldAndNewNames) {
  for (const bool old_names : {true, false}) {
    const std::string prefix = old_names ? "sentence_transformers.models." : "";
    const auto type = [&](const std::string& new_path, const std::string& name) {
      return old_names ? prefix + name : "sentence_transformers." + new_path + "." + name;
    };
    write("modules.json",
          "[{\"path\":\"\",\"type\":\"" + type("base.modules.transformer", "Transformer") +
              "\"},{\"path\":\"1_Pooling\",\"type\":\"" +
              type("sentence_transformer.modules.pooling", "Pooling") +
              "\"},{\"path\":\"2_Dense\",\"type\":\"" + type("base.modules.dense", "Dense") +
              "\"},{\"path\":\"3_Normalize\",\"type\":\"" +
              type("base.modules.normalize", "Normalize") +
              "\"},{\"path\":\"4_LayerNorm\",\"type\":\"" +
              type("sentence_transformer.modules.layer_norm", "LayerNorm") +
              "\"},{\"path\":\"5_Normalize\",\"type\":\"" +
              type("base.modules.normalize", "Normalize") + "\"}]");
    const ModelFolder folder = read_model_folder(dir_);
    EXPECT_EQ(folder.input, InputModule::kTransformer);
    ASSERT_EQ(folder.output_modules.size(), 3u);  // the last Normalize becomes `normalize`
    EXPECT_EQ(folder.output_modules[0].kind, OutputModule::Kind::kDense);
    EXPECT_EQ(folder.output_modules[0].dir, dir_ / "2_Dense");
    EXPECT_EQ(folder.output_modules[1].kind, OutputModule::Kind::kNormalize);
    EXPECT_EQ(folder.output_modules[2].kind, OutputModule::Kind::kLayerNorm);
    EXPECT_TRUE(folder.normalize);
  }
}

TEST_F(ModelFolderTest, StaticEmbeddingIsAnInputModule) {
  write("modules.json", R"([
    {"path":"","type":"sentence_transformers.sentence_transformer.modules.static_embedding.StaticEmbedding"},
    {"path":"1_Normalize","type":"sentence_transformers.models.Normalize"}])");
  const ModelFolder folder = read_model_folder(dir_);
  EXPECT_EQ(folder.input, InputModule::kStaticEmbedding);
  EXPECT_EQ(folder.transformer_dir, dir_ / "");
  EXPECT_TRUE(folder.output_modules.empty());
  EXPECT_TRUE(folder.normalize);
}

TEST_F(ModelFolderTest, ModulesOutOfPlaceNameTheEntry) {
  const std::string transformer =
      R"({"path":"","type":"sentence_transformers.models.Transformer"})";
  const std::string pooling =
      R"({"path":"1_Pooling","type":"sentence_transformers.models.Pooling"})";
  const std::string dense = R"({"path":"2_Dense","type":"sentence_transformers.models.Dense"})";
  const std::string static_embedding =
      R"({"path":"","type":"sentence_transformers.models.StaticEmbedding"})";
  const std::pair<std::string, std::string> cases[] = {
      {"[" + pooling + "," + transformer + "]",
       "$[0].type: module type "
       "'sentence_transformers.models.Pooling' cannot come first"},
      {"[" + transformer + "," + transformer + "]",
       "$[1].type: module type "
       "'sentence_transformers.models.Transformer' is "
       "supported only as the first module"},
      {"[" + transformer + "," + dense + "," + pooling + "]",
       "$[2].type: module type 'sentence_transformers.models.Pooling' is supported only once, "
       "right after the Transformer"},
      {"[" + static_embedding + "," + pooling + "]",
       "$[1].type: module type 'sentence_transformers.models.Pooling' after StaticEmbedding"},
      {"[]", "modules.json: $: no Transformer or StaticEmbedding module"},
  };
  for (const auto& [modules, expected] : cases) {
    write("modules.json", modules);
    const std::string message = error_of();
    EXPECT_NE(message.find("modules.json: "), std::string::npos) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << modules << "\n" << message;
  }
}

TEST_F(ModelFolderTest, WrongFieldTypesNameTheField) {
  write("sentence_bert_config.json", R"({"max_seq_length": "long"})");
  EXPECT_NE(error_of().find("sentence_bert_config.json: $.max_seq_length: expected a positive "
                            "integer"),
            std::string::npos);
  write("sentence_bert_config.json", R"({"max_seq_length": 128, "do_lower_case": 1})");
  EXPECT_NE(error_of().find("$.do_lower_case: expected a boolean"), std::string::npos);
  write("sentence_bert_config.json", R"({"max_seq_length": 128})");
  write("config_sentence_transformers.json", R"({"prompts": {}, "default_prompt_name": "q"})");
  EXPECT_NE(error_of().find("$.default_prompt_name: names prompt 'q', which $.prompts lacks"),
            std::string::npos);
}

}  // namespace
}  // namespace embedrt::model
