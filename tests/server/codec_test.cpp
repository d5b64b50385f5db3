// Request parsing, response encoding, error bodies, metrics text and the API key comparison.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <random>

#include "server/api_error.h"
#include "server/json_output.h"
#include "server/metrics.h"
#include "server/request_parsing.h"
#include "server/server.h"

namespace embedrt::server {
namespace {

using json = nlohmann::json;

TEST(JsonOutput, FloatArraysRoundTripExactly) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  std::vector<float> values(384);
  for (float& v : values) v = normal(rng);
  values[0] = 1e-38f;
  values[1] = -3.4028235e38f;
  values[2] = 0.0f;
  std::string out = "x";
  append_float_array(out, values);
  const json parsed = json::parse(out.substr(1));
  ASSERT_EQ(parsed.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(static_cast<float>(parsed[i].get<double>()), values[i]) << i;
  }
  out.clear();
  append_float_array(out, {});
  EXPECT_EQ(out, "[]");
}

TEST(JsonOutput, Base64MatchesTheStandardAndDecodes) {
  const std::string text = "any carnal pleas";
  for (size_t n = 0; n <= text.size(); ++n) {
    std::string encoded;
    append_base64(encoded, {reinterpret_cast<const uint8_t*>(text.data()), n});
    std::string decoded;
    ASSERT_TRUE(decode_base64(encoded, decoded));
    EXPECT_EQ(decoded, text.substr(0, n));
  }
  std::string encoded;
  append_base64(encoded, {reinterpret_cast<const uint8_t*>("any carnal pleas"), 16});
  EXPECT_EQ(encoded, "YW55IGNhcm5hbCBwbGVhcw==");
  std::string out;
  EXPECT_FALSE(decode_base64("abc", out));
  EXPECT_FALSE(decode_base64("a=bc", out));
}

TEST(JsonOutput, Base64FloatsAreLittleEndianFloat32) {
  const std::vector<float> values = {1.0f, -2.5f};
  std::string encoded;
  append_base64_floats(encoded, values);
  std::string bytes;
  ASSERT_TRUE(decode_base64(encoded, bytes));
  ASSERT_EQ(bytes.size(), 8u);
  EXPECT_EQ(static_cast<uint8_t>(bytes[3]), 0x3f);  // 1.0f = 0x3f800000, low byte first
  float back[2];
  std::memcpy(back, bytes.data(), 8);
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], -2.5f);
}

TEST(JsonOutput, StringsAreEscaped) {
  std::string out;
  append_json_string(out, "a\"b\\c\n\x01é");
  EXPECT_EQ(json::parse(out).get<std::string>(), "a\"b\\c\n\x01é");
}

// Writing a response must cost little next to the model: 2,048 vectors of 384 floats (the
// largest request by default) as text, measured here so a regression shows up in the suite.
TEST(JsonOutput, FormattingALargeResponseIsFast) {
  std::vector<float> values(384);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  for (float& v : values) v = normal(rng);
  std::string out;
  out.reserve(2048 * 384 * 12);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 2048; ++i) append_float_array(out, values);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  // About 786k floats; a few tens of nanoseconds each, against ~3 ms of model time per text.
  EXPECT_LT(ms, 2048 * 3.0 / 10) << ms << " ms";
  RecordProperty("format_ms", std::to_string(ms));
}

TEST(RequestParsing, OpenAIInputForms) {
  auto r = parse_openai_request(json::parse(R"({"input":"a"})"));
  EXPECT_EQ(r.inputs.texts, std::vector<std::string>{"a"});
  r = parse_openai_request(json::parse(R"({"input":["a","b"],"encoding_format":"base64",
                                           "dimensions":8,"model":"m","user":"u"})"));
  EXPECT_EQ(r.inputs.size(), 2u);
  EXPECT_TRUE(r.base64);
  EXPECT_EQ(r.dimensions, 8u);
  EXPECT_EQ(r.precision, OutputPrecision::kFloat32);
  for (const auto& [name, precision] :
       {std::pair{"int8", OutputPrecision::kInt8}, std::pair{"uint8", OutputPrecision::kUint8},
        std::pair{"binary", OutputPrecision::kBinary},
        std::pair{"ubinary", OutputPrecision::kUbinary}}) {
    r = parse_openai_request(json{{"input", "a"}, {"encoding_format", name}});
    EXPECT_EQ(r.precision, precision) << name;
    EXPECT_FALSE(r.base64);
  }
  r = parse_openai_request(json::parse(R"({"input":[1,2,3]})"));
  ASSERT_TRUE(r.inputs.is_token_ids);
  EXPECT_EQ(r.inputs.token_ids, (std::vector<std::vector<int32_t>>{{1, 2, 3}}));
  r = parse_openai_request(json::parse(R"({"input":[[1],[2,3]]})"));
  EXPECT_EQ(r.inputs.token_ids.size(), 2u);
}

TEST(RequestParsing, ErrorsNameTheField) {
  const auto param_of = [](const char* body, bool tei = false) {
    try {
      const json doc = json::parse(body);
      if (tei) {
        parse_tei_request(doc);
      } else {
        parse_openai_request(doc);
      }
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 422) << body;
      return e.param();
    }
    return std::string("no error");
  };
  EXPECT_EQ(param_of(R"({})"), "input");
  EXPECT_EQ(param_of(R"({"input":null})"), "input");
  EXPECT_EQ(param_of(R"({"input":[]})"), "input");
  EXPECT_EQ(param_of(R"({"input":["a",{}]})"), "input[1]");
  EXPECT_EQ(param_of(R"({"input":[1,2.5]})"), "input[1]");
  EXPECT_EQ(param_of(R"({"input":[[1],[3000000000]]})"), "input[1][0]");
  EXPECT_EQ(param_of(R"({"input":"a","dimensions":-1})"), "dimensions");
  EXPECT_EQ(param_of(R"({"input":"a","encoding_format":"float16"})"), "encoding_format");
  EXPECT_EQ(param_of(R"({"inputs":"a","normalize":1})", true), "normalize");
  EXPECT_EQ(param_of(R"({"inputs":"a","truncation_direction":"middle"})", true),
            "truncation_direction");
  EXPECT_EQ(param_of(R"({"inputs":"a","prompt_name":7})", true), "prompt_name");
  const auto tei = parse_tei_request(json::parse(
      R"({"inputs":["a"],"normalize":false,"truncate":true,"truncation_direction":"LEFT"})"));
  EXPECT_EQ(tei.normalize, false);
  EXPECT_EQ(tei.truncate, true);
  EXPECT_EQ(tei.truncation_side, TruncationSide::kLeft);
}

TEST(RequestParsing, RerankPredictAndSparseForms) {
  auto rerank = parse_rerank_request(json::parse(
      R"({"query":"q","texts":["a","b"],"raw_scores":true,"return_text":true,"truncate":false,
          "truncation_direction":"right"})"));
  EXPECT_EQ(rerank.query, "q");
  EXPECT_EQ(rerank.texts, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(rerank.raw_scores && rerank.return_text);
  EXPECT_EQ(rerank.truncate, false);
  EXPECT_EQ(rerank.top_n, 0u);

  auto cohere = parse_cohere_rerank_request(json::parse(
      R"({"model":"m","query":"q","documents":["a",{"text":"b"}],"top_n":1,
          "return_documents":true})"));
  EXPECT_EQ(cohere.texts, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(cohere.top_n, 1u);
  EXPECT_TRUE(cohere.return_text);

  // TEI's reading: a list of exactly two strings is one pair; otherwise a list of inputs.
  auto one_pair = parse_predict_request(json::parse(R"({"inputs":["a","b"]})"));
  EXPECT_FALSE(one_pair.batch);
  EXPECT_EQ(one_pair.inputs, (std::vector<std::vector<std::string>>{{"a", "b"}}));
  auto single = parse_predict_request(json::parse(R"({"inputs":"a"})"));
  EXPECT_FALSE(single.batch);
  EXPECT_EQ(single.inputs, (std::vector<std::vector<std::string>>{{"a"}}));
  auto mixed = parse_predict_request(json::parse(R"({"inputs":["a",["b","c"],"d"]})"));
  EXPECT_TRUE(mixed.batch);
  EXPECT_EQ(mixed.inputs, (std::vector<std::vector<std::string>>{{"a"}, {"b", "c"}, {"d"}}));

  auto sparse = parse_sparse_request(json::parse(R"({"inputs":"a","truncate":true})"));
  EXPECT_EQ(sparse.texts, (std::vector<std::string>{"a"}));
  EXPECT_EQ(sparse.truncate, true);
}

TEST(RequestParsing, RerankErrorsNameTheField) {
  const auto param_of = [](auto parse, const char* body) -> std::string {
    try {
      parse(json::parse(body));
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 422) << body;
      EXPECT_EQ(std::string(e.what()).rfind(e.param() + ": ", 0), 0u) << e.what();
      return e.param();
    }
    return "(accepted)";
  };
  const auto rerank = [](const json& j) { return parse_rerank_request(j); };
  const auto cohere = [](const json& j) { return parse_cohere_rerank_request(j); };
  const auto predict = [](const json& j) { return parse_predict_request(j); };
  EXPECT_EQ(param_of(rerank, R"({"texts":["a"]})"), "query");
  EXPECT_EQ(param_of(rerank, R"({"query":"q","texts":[]})"), "texts");
  EXPECT_EQ(param_of(rerank, R"({"query":"q","texts":"a"})"), "texts");
  EXPECT_EQ(param_of(rerank, R"({"query":"q","texts":["a",1]})"), "texts[1]");
  EXPECT_EQ(param_of(rerank, R"({"query":"q","texts":["a"],"return_text":1})"), "return_text");
  EXPECT_EQ(param_of(rerank, R"({"query":"q","texts":["a"],"truncation_direction":"left"})"),
            "truncation_direction");
  EXPECT_EQ(param_of(cohere, R"({"query":"q","documents":[{"title":"a"}]})"), "documents[0]");
  EXPECT_EQ(param_of(cohere, R"({"query":"q","documents":["a"],"top_n":-1})"), "top_n");
  EXPECT_EQ(param_of(cohere, R"({"query":"q","documents":[]})"), "documents");
  EXPECT_EQ(param_of(predict, R"({"inputs":[]})"), "inputs");
  EXPECT_EQ(param_of(predict, R"({"inputs":["a",["b"]]})"), "inputs[1]");
  EXPECT_EQ(param_of(predict, R"({"inputs":{"a":1}})"), "inputs");
}

TEST(RequestParsing, MalformedJsonIsA400) {
  try {
    parse_json_body("{\"input\": [");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos);
  }
}

TEST(RequestParsing, NumberTooLargeForADoubleIsA400) {
  // nlohmann::json throws out_of_range, not parse_error, for a number it cannot hold; the server
  // answered 500 "internal error".
  try {
    parse_json_body(R"({"input": "a", "dimensions": 1e400})");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
  }
}

TEST(RequestParsing, MalformedJsonErrorBodyIsValidJson) {
  // The parser's message quotes the bytes it stopped at; an invalid UTF-8 byte there made the
  // error body invalid JSON.
  for (const std::string body : {"\xaa", "{\"input\": \xc3}", "[\"a\", \xe2\x82]"}) {
    try {
      parse_json_body(body);
      FAIL() << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400);
      for (const ApiStyle style : {ApiStyle::kOpenAI, ApiStyle::kTei}) {
        EXPECT_TRUE(json::accept(error_body(style, e.status(), e.what(), e.param()))) << e.what();
      }
    }
  }
}

TEST(ApiErrors, BodiesInEachStyle) {
  const json openai = json::parse(error_body(ApiStyle::kOpenAI, 422, "bad", "input[2]"));
  EXPECT_EQ(openai["error"]["message"], "bad");
  EXPECT_EQ(openai["error"]["param"], "input[2]");
  EXPECT_EQ(openai["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(openai["error"]["code"].is_string());
  EXPECT_TRUE(json::parse(error_body(ApiStyle::kOpenAI, 500, "x"))["error"]["param"].is_null());
  const json tei = json::parse(error_body(ApiStyle::kTei, 429, "busy"));
  EXPECT_EQ(tei, (json{{"error", "busy"}, {"error_type", "Overloaded"}}));
  EXPECT_EQ(style_for_path("/v1/embeddings"), ApiStyle::kOpenAI);
  EXPECT_EQ(style_for_path("/embed"), ApiStyle::kTei);
}

TEST(Metrics, PrometheusText) {
  Metrics metrics;
  metrics.record_request("/embed", 200, 0.003);
  metrics.record_request("/embed", 200, 0.2);
  metrics.record_request("/embed", 422, 0.001);
  metrics.record_batch(4, 64, 0.01);
  metrics.add_tokens(64, 4);
  metrics.add_gauge("embedrt_queue_depth", "Texts waiting.", [] { return 3.0; });
  const std::string text = metrics.render();
  EXPECT_NE(text.find("embedrt_requests_total{endpoint=\"/embed\",status=\"200\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("embedrt_requests_total{endpoint=\"/embed\",status=\"422\"} 1\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("embedrt_request_duration_seconds_bucket{endpoint=\"/embed\",le=\"0.005\"} 2\n"),
      std::string::npos);
  EXPECT_NE(
      text.find("embedrt_request_duration_seconds_bucket{endpoint=\"/embed\",le=\"+Inf\"} 3\n"),
      std::string::npos);
  EXPECT_NE(text.find("embedrt_batch_tokens_bucket{le=\"64\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("embedrt_tokens_total 64\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE embedrt_queue_depth gauge\nembedrt_queue_depth 3\n"),
            std::string::npos);
}

TEST(ApiKey, ConstantTimeComparison) {
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secreT", "secret"));
  EXPECT_FALSE(constant_time_equal("secret1", "secret"));
  EXPECT_FALSE(constant_time_equal("", "secret"));
  EXPECT_FALSE(constant_time_equal("secre", "secret"));
}

}  // namespace
}  // namespace embedrt::server
