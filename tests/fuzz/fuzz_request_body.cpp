// Arbitrary bytes as the body of POST /v1/embeddings, /embed, /tokenize, /rerank, /v1/rerank,
// /predict and /embed_sparse, through the
// parsing the server does before it touches the model (parse_json_body, then each route's request
// parser). Each route must either accept the body with consistent values or throw an ApiError with
// a 4xx status and a one-line message, whose error body (in the route's API style) is valid JSON;
// any other exception is what the server would answer with a 500.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "server/api_error.h"
#include "server/request_parsing.h"

namespace {

using namespace embedrt::server;
using json = nlohmann::json;

// A broken invariant: says which before libFuzzer reports the crash and saves the input.
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

void check(const EmbeddingInputs& inputs) {
  if (inputs.size() == 0) fail("accepted no inputs");
  if (inputs.is_token_ids ? !inputs.texts.empty() : !inputs.token_ids.empty()) {
    fail("inputs mix texts and token ids");
  }
  for (const auto& ids : inputs.token_ids) {
    if (ids.empty()) fail("accepted an empty token-id input");
    for (const int32_t id : ids) {
      if (id < 0) fail("accepted a negative token id");
    }
  }
}

void check(const EmbeddingRequest& request) {
  check(request.inputs);
  if (request.dimensions && *request.dimensions == 0) fail("accepted dimensions 0");
}

void check_error(const ApiError& e, std::string_view path) {
  if (e.status() < 400 || e.status() > 499) fail("ApiError status outside 4xx");
  const std::string_view message = e.what();
  if (message.empty() || message.find('\n') != std::string_view::npos) {
    fail("ApiError message empty or over several lines");
  }
  // What the server sends back must parse as JSON (nlohmann rejects invalid UTF-8).
  const std::string body = error_body(style_for_path(path), e.status(), message, e.param());
  if (!json::accept(body)) fail("the error body is not valid JSON");
}

void check(const RerankRequest& request) {
  if (request.texts.empty()) fail("accepted a rerank request without texts");
}

void check(const PredictRequest& request) {
  if (request.inputs.empty()) fail("accepted a predict request without inputs");
  for (const auto& input : request.inputs) {
    if (input.size() != 1 && input.size() != 2)
      fail("a predict input is neither a text nor a pair");
  }
  if (!request.batch && request.inputs.size() != 1) fail("several inputs answered as one");
}

constexpr std::string_view kRoutes[] = {"/v1/embeddings", "/embed",   "/tokenize",    "/rerank",
                                        "/v1/rerank",     "/predict", "/embed_sparse"};

// A route's request parser on the parsed body.
template <typename Parse>
void route(std::string_view path, const json& document, Parse parse) {
  try {
    parse(document);
  } catch (const ApiError& e) {
    check_error(e, path);
  }
}

}  // namespace

// Every route starts with parse_json_body; the body is parsed once and given to each route's
// parser in turn.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  json document;
  try {
    document = parse_json_body(body);
  } catch (const ApiError& e) {
    for (const std::string_view path : kRoutes) check_error(e, path);
    return 0;
  }
  route("/v1/embeddings", document, [](const json& d) { check(parse_openai_request(d)); });
  route("/embed", document, [](const json& d) { check(parse_tei_request(d)); });
  route("/tokenize", document, [](const json& d) {
    if (parse_tokenize_request(d).texts.empty()) fail("accepted no inputs");
  });
  route("/rerank", document, [](const json& d) { check(parse_rerank_request(d)); });
  route("/v1/rerank", document, [](const json& d) { check(parse_cohere_rerank_request(d)); });
  route("/predict", document, [](const json& d) { check(parse_predict_request(d)); });
  route("/embed_sparse", document, [](const json& d) {
    if (parse_sparse_request(d).texts.empty()) fail("accepted no inputs");
  });
  return 0;
}
