#include "server/scoring_service.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <numeric>
#include <vector>

#include "embedrt/error.h"
#include "embedrt/model_kind.h"
#include "embedrt/system.h"
#include "server/json_output.h"
#include "server/request_parsing.h"

namespace embedrt::server {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void check_count(size_t count, const ServerOptions& options, const std::string& param) {
  if (count > options.max_client_batch_size) {
    throw ApiError(413,
                   param + ": " + std::to_string(count) + " inputs, over the limit of " +
                       std::to_string(options.max_client_batch_size) + " per request",
                   param);
  }
}

// An input cut by truncation is an error unless the request (or the server) allows cutting, so
// that a score never silently ignores the end of a long document.
size_t check_lengths(const std::vector<PreparedText>& prepared, bool truncate, size_t max_length,
                     const std::string& param, const char* what) {
  size_t tokens = 0;
  for (size_t i = 0; i < prepared.size(); ++i) {
    const uint32_t cut = prepared[i].encoding.truncated_tokens;
    if (cut > 0 && !truncate) {
      const std::string at = param + "[" + std::to_string(i) + "]";
      throw ApiError(422,
                     at + ": " + what + " " + std::to_string(prepared[i].tokens + cut) +
                         " tokens long, over the maximum of " + std::to_string(max_length) +
                         " (set \"truncate\": true to cut it)",
                     at);
    }
    tokens += prepared[i].tokens;
  }
  return tokens;
}

template <typename Prepare>
std::vector<PreparedText> prepare_or_throw(Prepare prepare, const std::string& param) {
  try {
    return prepare();
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kInvalidArgument || e.code() == ErrorCode::kInputTooLong) {
      throw ApiError(422, e.what(), param);
    }
    throw ApiError(500, e.what());
  }
}

}  // namespace

ScoringService::ScoringService(const Reranker* reranker, const SparseEncoder* sparse,
                               BatchScheduler& scheduler, Metrics& metrics,
                               const ServerOptions& options, std::string model_name)
    : reranker_(reranker),
      sparse_(sparse),
      scheduler_(scheduler),
      metrics_(metrics),
      options_(options),
      model_name_(std::move(model_name)) {}

Reply ScoringService::rerank(ApiStyle style, std::string_view body, int client_fd,
                             std::string_view request_id) const {
  const auto parse_start = Clock::now();
  const nlohmann::json document = parse_json_body(body);
  const bool cohere = style == ApiStyle::kOpenAI;
  RerankRequest request =
      cohere ? parse_cohere_rerank_request(document) : parse_rerank_request(document);
  const double parse_ms = ms_since(parse_start);
  const std::string param = cohere ? "documents" : "texts";
  check_count(request.texts.size(), options_, param);

  Reply reply;
  const auto tokenize_start = Clock::now();
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(request.texts.size());
  for (const std::string& text : request.texts) pairs.emplace_back(request.query, text);
  std::vector<PreparedText> prepared =
      prepare_or_throw([&] { return reranker_->prepare(pairs); }, param);
  reply.tokenization_ms = ms_since(tokenize_start);
  // Cohere's and Jina's APIs cut long documents themselves; TEI's asks for `truncate`.
  const bool truncate = cohere || request.truncate.value_or(options_.auto_truncate);
  const size_t tokens = check_lengths(prepared, truncate, reranker_->info().model.max_length, param,
                                      "the query and text are");

  const auto job = run_job(scheduler_, std::move(prepared), client_fd, reply, "scoring");
  if (!job) return reply;
  const auto encode_start = Clock::now();
  std::vector<PreparedText>& items = job->texts();
  std::vector<float> scores(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    std::span<float> logits(items[i].embedding);
    if (!request.raw_scores) reranker_->activate(logits);
    scores[i] = logits[0];
  }
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  if (request.top_n > 0 && order.size() > request.top_n) order.resize(request.top_n);

  std::string& out = reply.body;
  if (cohere) {
    out += "{\"id\":";
    append_json_string(out, request_id);
    out += ",\"model\":";
    append_json_string(out, model_name_);
    out += ",\"results\":[";
  } else {
    out += '[';
  }
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k];
    if (k > 0) out += ',';
    out += "{\"index\":" + std::to_string(i);
    if (request.return_text) {
      out += cohere ? ",\"document\":{\"text\":" : ",\"text\":";
      append_json_string(out, request.texts[i]);
      if (cohere) out += '}';
    }
    out += cohere ? ",\"relevance_score\":" : ",\"score\":";
    append_float(out, scores[i]);
    out += '}';
  }
  out += ']';
  if (cohere) {
    out +=
        ",\"usage\":{\"total_tokens\":" + std::to_string(tokens) +
        "},\"meta\":{\"api_version\":{\"version\":\"1\"},\"billed_units\":{\"search_units\":1}}}";
  }
  metrics_.record_codec(parse_ms / 1000.0, ms_since(encode_start) / 1000.0);
  metrics_.record_stages(reply.tokenization_ms / 1000.0, reply.queue_ms / 1000.0,
                         reply.inference_ms / 1000.0);
  metrics_.add_tokens(tokens, items.size());
  return reply;
}

Reply ScoringService::predict(std::string_view body, int client_fd) const {
  const auto parse_start = Clock::now();
  const PredictRequest request = parse_predict_request(parse_json_body(body));
  const double parse_ms = ms_since(parse_start);
  check_count(request.inputs.size(), options_, "inputs");

  Reply reply;
  const auto tokenize_start = Clock::now();
  std::vector<PreparedText> prepared = prepare_or_throw(
      [&] {
        std::vector<PreparedText> all;
        all.reserve(request.inputs.size());
        for (const auto& input : request.inputs) {
          std::vector<PreparedText> one;
          if (input.size() == 2) {
            const std::pair<std::string, std::string> pair(input[0], input[1]);
            one = reranker_->prepare(std::span(&pair, 1));
          } else {
            one = reranker_->prepare(std::span(&input[0], 1));
          }
          all.push_back(std::move(one.front()));
        }
        return all;
      },
      "inputs");
  reply.tokenization_ms = ms_since(tokenize_start);
  const size_t tokens = check_lengths(prepared, request.truncate.value_or(options_.auto_truncate),
                                      reranker_->info().model.max_length, "inputs", "the input is");

  const auto job = run_job(scheduler_, std::move(prepared), client_fd, reply, "scoring");
  if (!job) return reply;
  const auto encode_start = Clock::now();
  const std::vector<std::string>& labels = reranker_->info().labels;
  std::vector<PreparedText>& items = job->texts();
  std::string& out = reply.body;
  if (request.batch) out += '[';
  std::vector<size_t> order(labels.size());
  for (size_t i = 0; i < items.size(); ++i) {
    std::span<float> scores(items[i].embedding);
    if (!request.raw_scores) reranker_->activate(scores);
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return scores[a] > scores[b]; });
    if (i > 0) out += ',';
    out += '[';
    for (size_t k = 0; k < order.size(); ++k) {
      if (k > 0) out += ',';
      out += "{\"score\":";
      append_float(out, scores[order[k]]);
      out += ",\"label\":";
      append_json_string(out, labels[order[k]]);
      out += '}';
    }
    out += ']';
  }
  if (request.batch) out += ']';
  metrics_.record_codec(parse_ms / 1000.0, ms_since(encode_start) / 1000.0);
  metrics_.record_stages(reply.tokenization_ms / 1000.0, reply.queue_ms / 1000.0,
                         reply.inference_ms / 1000.0);
  metrics_.add_tokens(tokens, items.size());
  return reply;
}

Reply ScoringService::embed_sparse(std::string_view body, int client_fd) const {
  const auto parse_start = Clock::now();
  const SparseRequest request = parse_sparse_request(parse_json_body(body));
  const double parse_ms = ms_since(parse_start);
  check_count(request.texts.size(), options_, "inputs");

  Reply reply;
  const auto tokenize_start = Clock::now();
  std::vector<PreparedText> prepared =
      prepare_or_throw([&] { return sparse_->prepare(request.texts); }, "inputs");
  reply.tokenization_ms = ms_since(tokenize_start);
  const size_t tokens = check_lengths(prepared, request.truncate.value_or(options_.auto_truncate),
                                      sparse_->max_length(), "inputs", "the input is");

  const auto job = run_job(scheduler_, std::move(prepared), client_fd, reply, "scoring");
  if (!job) return reply;
  const auto encode_start = Clock::now();
  std::vector<PreparedText>& items = job->texts();
  std::string& out = reply.body;
  out += '[';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '[';
    const PreparedText& item = items[i];
    for (size_t k = 0; k < item.sparse_indices.size(); ++k) {
      if (k > 0) out += ',';
      out += "{\"index\":" + std::to_string(item.sparse_indices[k]) + ",\"value\":";
      append_float(out, item.embedding[k]);
      out += '}';
    }
    out += ']';
  }
  out += ']';
  metrics_.record_codec(parse_ms / 1000.0, ms_since(encode_start) / 1000.0);
  metrics_.record_stages(reply.tokenization_ms / 1000.0, reply.queue_ms / 1000.0,
                         reply.inference_ms / 1000.0);
  metrics_.add_tokens(tokens, items.size());
  return reply;
}

std::string ScoringService::info() const {
  const ModelInfo& info = reranker_ ? reranker_->info().model : sparse_->info();
  const SystemInfo system = system_info();
  nlohmann::json out = {
      {"model_id", model_name_},
      {"model_dir", info.dir.string()},
      {"architecture", info.architecture},
      {"precision", std::string(to_string(info.precision))},
      {"max_input_length", info.max_length},
      {"optimize", std::string(to_string(info.optimize))},
      {"threads", info.threads},
      {"isa", system.isa},
      {"max_batch_tokens", scheduler_.token_budget()},
      {"max_batch_requests", scheduler_.max_batch_size()},
      {"max_client_batch_size", options_.max_client_batch_size},
      {"max_concurrent_requests", options_.max_concurrent_requests},
      {"payload_limit", options_.payload_limit},
      {"auto_truncate", options_.auto_truncate},
      {"auth", !options_.api_key.empty()},
      {"version", version()},
  };
  if (reranker_) {
    const RerankerInfo& r = reranker_->info();
    nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
    for (size_t i = 0; i < r.labels.size(); ++i) {
      id2label[std::to_string(i)] = r.labels[i];
      label2id[r.labels[i]] = i;
    }
    const ModelKind kind = r.labels.size() == 1 ? ModelKind::kReranker : ModelKind::kClassifier;
    out["kind"] = std::string(to_string(kind));
    // TEI's model_type: {"reranker": {...}} or {"classifier": {...}}.
    out["model_type"] = {
        {std::string(to_string(kind)), {{"id2label", id2label}, {"label2id", label2id}}}};
    out["activation"] = std::string(to_string(r.activation));
  } else {
    out["kind"] = std::string(to_string(ModelKind::kSparse));
    // TEI describes a SPLADE model as an embedding model with SPLADE pooling.
    out["model_type"] = {{"embedding", {{"pooling", "splade"}}}};
    out["pooling"] = info.pooling;
    out["vocab_size"] = info.dimension;
  }
  return out.dump();
}

}  // namespace embedrt::server
