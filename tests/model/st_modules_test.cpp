#include "model/st_modules.h"

#include <gtest/gtest.h>

#include <string>

#include "embedrt/error.h"

namespace embedrt::model {
namespace {

// The message of the Error that `parse` throws, checked to be one line.
template <typename Parse>
std::string error_of(Parse parse) {
  try {
    parse();
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  }
  return "";
}

TEST(DenseConfigTest, ReadsWhatSentenceTransformersWrites) {
  const DenseConfig config = parse_dense_config(
      R"({"in_features": 768, "out_features": 3072, "bias": false,
          "activation_function": "torch.nn.modules.linear.Identity",
          "module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"})",
      "2_Dense/config.json");
  EXPECT_EQ(config.in_features, 768);
  EXPECT_EQ(config.out_features, 3072);
  EXPECT_FALSE(config.bias);
  EXPECT_EQ(config.activation, DenseActivation::kIdentity);
  EXPECT_FALSE(config.use_residual);
  // Defaults of the Dense constructor: bias, Tanh.
  const DenseConfig defaults = parse_dense_config(R"({"in_features": 4, "out_features": 2})", "f");
  EXPECT_TRUE(defaults.bias);
  EXPECT_EQ(defaults.activation, DenseActivation::kTanh);
  EXPECT_EQ(parse_dense_config(R"({"in_features": 4, "out_features": 2,
                                   "activation_function": "torch.nn.GELU"})",
                               "f")
                .activation,
            DenseActivation::kGelu);
}

TEST(DenseConfigTest, ErrorsNameTheFileAndField) {
  const std::pair<std::string, std::string> cases[] = {
      {R"({"out_features": 2})", "2_Dense/config.json: $.in_features: missing"},
      {R"({"in_features": 0, "out_features": 2})",
       "2_Dense/config.json: $.in_features: expected a positive integer"},
      {R"({"in_features": 4, "out_features": 2.5})",
       "2_Dense/config.json: $.out_features: expected a positive integer"},
      {R"({"in_features": 4, "out_features": 2, "bias": 1})",
       "2_Dense/config.json: $.bias: expected a boolean"},
      {R"({"in_features": 4, "out_features": 2, "use_residual": "no"})",
       "2_Dense/config.json: $.use_residual: expected a boolean"},
      {R"({"in_features": 4, "out_features": 2, "activation_function": null})",
       "2_Dense/config.json: $.activation_function: expected a string"},
      {R"({"in_features": 4, "out_features": 2, "activation_function": 3})",
       "2_Dense/config.json: $.activation_function: expected a string"},
      {R"({"in_features": 4, "out_features": 2, "activation_function": "mypkg.Swish"})",
       "2_Dense/config.json: $.activation_function: 'mypkg.Swish' is not supported"},
      {R"({"in_features": 4, "out_features": 2, "module_output_name": "token_embeddings"})",
       "2_Dense/config.json: $.module_output_name: 'token_embeddings' is not supported"},
      {R"([1, 2])", "2_Dense/config.json: expected a JSON object"},
      {R"({"in_features": 4,)", "2_Dense/config.json: invalid JSON"},
  };
  for (const auto& [config, expected] : cases) {
    // A plain reference: clang before 16 cannot capture a structured binding in a lambda.
    const std::string& json = config;
    const std::string message = error_of([&] { parse_dense_config(json, "2_Dense/config.json"); });
    EXPECT_NE(message.find(expected), std::string::npos) << json << "\n" << message;
  }
}

TEST(LayerNormConfigTest, ReadsTheDimensionAndNamesBadOnes) {
  EXPECT_EQ(parse_layer_norm_dimension(R"({"dimension": 384})", "f"), 384);
  EXPECT_NE(error_of([] {
              parse_layer_norm_dimension("{}", "2_LayerNorm/config.json");
            }).find("2_LayerNorm/config.json: $.dimension: missing"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_layer_norm_dimension(R"({"dimension": -3})", "x/config.json");
            }).find("x/config.json: $.dimension: expected a positive integer"),
            std::string::npos);
}

TEST(OutputChainTest, EmptyChainPassesVectorsThrough) {
  const OutputChain chain = OutputChain::load({}, 3);
  EXPECT_TRUE(chain.empty());
  EXPECT_EQ(chain.output_dimension(), 3);
  EXPECT_EQ(chain.describe(), "");
  const float in[6] = {1, 2, 3, 4, 5, 6};
  float out[6] = {};
  chain.forward(in, 2, out);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[i], in[i]);
}

}  // namespace
}  // namespace embedrt::model
