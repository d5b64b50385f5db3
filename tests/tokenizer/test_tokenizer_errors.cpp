#include <gtest/gtest.h>

#include <string>

#include "embedrt/error.h"
#include "tokenizer/tokenizer.h"

namespace embedrt::tokenizer {
namespace {

// Loads `json` expecting an embedrt::Error of `code` whose message contains every fragment.
void expect_load_error(const std::string& json, ErrorCode code,
                       std::initializer_list<std::string> fragments) {
  try {
    Tokenizer::from_json(json, "bad/tokenizer.json");
    ADD_FAILURE() << "no error for " << json;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const std::string& f : fragments) {
      EXPECT_NE(message.find(f), std::string::npos) << "'" << f << "' not in: " << message;
    }
  }
}

constexpr const char* kWordPieceModel =
    R"("model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 1}})";

std::string with_model(const std::string& model) { return "{" + model + "}"; }

TEST(TokenizerErrors, InvalidJson) {
  expect_load_error("{\"model\": ", ErrorCode::kInvalidModel,
                    {"bad/tokenizer.json", "$", "expected valid JSON"});
  expect_load_error("[1, 2]", ErrorCode::kInvalidModel,
                    {"bad/tokenizer.json: $: expected an object, found an array"});
}

TEST(TokenizerErrors, MissingModelAndVocab) {
  expect_load_error("{}", ErrorCode::kInvalidModel,
                    {"bad/tokenizer.json: $: missing required field 'model'"});
  expect_load_error(with_model(R"("model": {"type": "WordPiece", "unk_token": "[UNK]"})"),
                    ErrorCode::kInvalidModel,
                    {"bad/tokenizer.json: $.model: missing required field 'vocab'"});
  expect_load_error(with_model(R"("model": {"type": "BPE", "vocab": [], "merges": []})"),
                    ErrorCode::kInvalidModel,
                    {"bad/tokenizer.json: $.model.vocab: expected an object, found an array"});
}

TEST(TokenizerErrors, IdsOutOfRangeOrDuplicated) {
  expect_load_error(
      with_model(
          R"("model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 7}})"),
      ErrorCode::kInvalidModel,
      {"bad/tokenizer.json", "$.model.vocab[\"a\"]", "id 7 is out of range", "0 to 1"});
  expect_load_error(
      with_model(
          R"("model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 0}})"),
      ErrorCode::kInvalidModel, {"$.model.vocab[", "duplicate id 0"});
  expect_load_error(
      with_model(R"("model": {"type": "Unigram", "unk_id": 3, "vocab": [["<unk>", 0.0]]})"),
      ErrorCode::kInvalidModel, {"$.model.unk_id", "unk_id 3 is out of range"});
  expect_load_error(with_model(R"("model": {"type": "Unigram", "vocab": [["a", "x"]]})"),
                    ErrorCode::kInvalidModel,
                    {"$.model.vocab[0][1]", "expected a number, found a string"});
}

TEST(TokenizerErrors, UnkTokenAndMergesMustBeInTheVocabulary) {
  expect_load_error(
      with_model(R"("model": {"type": "WordPiece", "unk_token": "<unk>", "vocab": {"a": 0}})"),
      ErrorCode::kInvalidModel, {"$.model.unk_token", "'<unk>' is not in the vocabulary"});
  expect_load_error(
      with_model(R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]})"),
      ErrorCode::kInvalidModel, {"$.model.merges[0]", "merge token 'ab' is not in the vocabulary"});
  expect_load_error(
      with_model(R"("model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]})"),
      ErrorCode::kInvalidModel, {"$.model.merges[0]", "two tokens separated by one space"});
}

TEST(TokenizerErrors, UnknownComponentTypes) {
  expect_load_error(with_model(R"("model": {"type": "WordLevel", "vocab": {}})"),
                    ErrorCode::kUnsupported,
                    {"bad/tokenizer.json: $.model.type: model type 'WordLevel' is not supported"});
  expect_load_error(
      std::string("{") + kWordPieceModel + R"(, "post_processor": {"type": "Fancy"}})",
      ErrorCode::kUnsupported,
      {"$.post_processor.type", "post-processor type 'Fancy' is not supported"});
  expect_load_error(std::string("{") + kWordPieceModel +
                        R"(, "post_processor": {"type": "TemplateProcessing", "single": [
                          {"SpecialToken": {"id": "[CLS]", "type_id": 0}}], "special_tokens": {}}})",
                    ErrorCode::kInvalidModel,
                    {"$.post_processor.single[0]", "special token '[CLS]' is not defined"});
  expect_load_error(std::string("{\"version\": \"2.0\", ") + kWordPieceModel + "}",
                    ErrorCode::kUnsupported, {"$.version", "version '2.0' is not supported"});
}

TEST(TokenizerErrors, TruncationAndAddedTokens) {
  const std::string bert = std::string("{") + kWordPieceModel +
                           R"(, "post_processor": {"type": "BertProcessing", "sep": ["a", 1],
                               "cls": ["[UNK]", 0]})";
  expect_load_error(bert + R"(, "truncation": {"max_length": 1}})", ErrorCode::kInvalidModel,
                    {"$.truncation.max_length", "expected at least 2"});
  expect_load_error(bert + R"(, "truncation": {"max_length": 8, "direction": "Up"}})",
                    ErrorCode::kInvalidModel,
                    {"$.truncation.direction", "expected 'Right' or 'Left'"});
  expect_load_error(bert + R"(, "added_tokens": [{"id": 2}]})", ErrorCode::kInvalidModel,
                    {"$.added_tokens[0]", "missing required field 'content'"});
  Tokenizer tokenizer = Tokenizer::from_json(bert + "}", "ok.json");
  EXPECT_THROW(tokenizer.set_truncation({1, TruncationSide::kRight}), Error);
}

TEST(TokenizerErrors, MissingFile) {
  try {
    Tokenizer::from_file("/nonexistent/dir/tokenizer.json");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/tokenizer.json"), std::string::npos);
  }
}

}  // namespace
}  // namespace embedrt::tokenizer
