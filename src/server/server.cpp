#include "server/server.h"

#include <nlohmann/json.hpp>

#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <random>
#include <vector>

#include "embedrt/error.h"
#include "embedrt/profile.h"
#include "runtime/adaptive_tuner.h"
#include "server/api_error.h"

namespace embedrt::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr unsigned kind_bit(ModelKind kind) { return 1u << static_cast<unsigned>(kind); }
constexpr unsigned kEmbedding = kind_bit(ModelKind::kEmbedding);
constexpr unsigned kReranker = kind_bit(ModelKind::kReranker);
constexpr unsigned kClassifier = kind_bit(ModelKind::kClassifier);
constexpr unsigned kSparse = kind_bit(ModelKind::kSparse);
constexpr unsigned kAnyKind = kEmbedding | kReranker | kClassifier | kSparse;

struct Route {
  std::string_view path;
  std::string_view method;
  bool model;      // needs the model: 503 while loading, counts against the concurrency limit
  unsigned kinds;  // the model kinds that answer it (kind_bit); others get a 424
};

constexpr std::array<Route, 12> kRoutes = {{
    {"/v1/embeddings", "POST", true, kEmbedding},
    {"/embed", "POST", true, kEmbedding},
    {"/tokenize", "POST", true, kEmbedding},
    {"/rerank", "POST", true, kReranker},
    {"/v1/rerank", "POST", true, kReranker},
    {"/v2/rerank", "POST", true, kReranker},
    {"/predict", "POST", true, kReranker | kClassifier},
    {"/embed_sparse", "POST", true, kSparse},
    {"/health", "GET", false, kAnyKind},
    {"/info", "GET", false, kAnyKind},
    {"/metrics", "GET", false, kAnyKind},
    {"/v1/models", "GET", false, kAnyKind},
}};

// "/embed: the loaded model is a reranker model; use /rerank, /v1/rerank or /predict".
std::string wrong_kind_message(std::string_view path, ModelKind kind) {
  std::vector<std::string_view> serving;
  for (const Route& route : kRoutes) {
    // Cohere's v2 path is an alias of /v1/rerank, not worth a mention.
    if (route.model && route.kinds != kAnyKind && (route.kinds & kind_bit(kind)) &&
        route.path != "/v2/rerank") {
      serving.push_back(route.path);
    }
  }
  std::string message = std::string(path) + ": the loaded model is " +
                        (kind == ModelKind::kEmbedding ? "an " : "a ") +
                        std::string(to_string(kind)) + " model; use ";
  for (size_t i = 0; i < serving.size(); ++i) {
    if (i > 0) message += i + 1 == serving.size() ? " or " : ", ";
    message += serving[i];
  }
  return message;
}

const Route* find_route(std::string_view path) {
  for (const Route& route : kRoutes) {
    if (route.path == path) return &route;
  }
  return nullptr;
}

std::string format_ms(double ms) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.3f", ms);
  return buffer;
}

// Requests whose framing fails the checks below never get here with a bad Content-Length.
uint64_t content_length(const httplib::Request& req) {
  return parse_content_length(req.get_header_value("Content-Length")).value_or(0);
}

bool has_body(const httplib::Request& req) {
  return content_length(req) > 0 || req.has_header("Transfer-Encoding");
}

// What is wrong with how the request says where its body ends, if anything. httplib would read a
// negative Content-Length as 2^64 - 1 and a non-numeric one as 0 (leaving the body to be parsed
// as the next request), use the first of two differing ones, and prefer Transfer-Encoding to
// Content-Length: each a way for what follows on the connection to be read differently than the
// client (or a proxy in front) meant.
std::string framing_error(const httplib::Request& req) {
  const size_t lengths = req.get_header_value_count("Content-Length");
  const size_t encodings = req.get_header_value_count("Transfer-Encoding");
  if (lengths > 0) {
    const std::string first = req.get_header_value("Content-Length");
    if (!parse_content_length(first)) return "invalid Content-Length \"" + first + "\"";
    for (size_t i = 1; i < lengths; ++i) {
      if (req.get_header_value("Content-Length", i) != first) {
        return "conflicting Content-Length headers";
      }
    }
  }
  if (encodings > 0) {
    if (lengths > 0) return "both Content-Length and Transfer-Encoding";
    std::string encoding = req.get_header_value("Transfer-Encoding");
    for (char& c : encoding) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (encodings > 1 || encoding != "chunked") {
      return "unsupported Transfer-Encoding \"" + req.get_header_value("Transfer-Encoding") +
             "\" (only chunked)";
    }
  }
  return {};
}

// A client's own request id is echoed when it is short and plain; otherwise one is made.
bool acceptable_request_id(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (const char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
        c != ':') {
      return false;
    }
  }
  return true;
}

void send_json(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.body = std::move(body);
  res.set_header("Content-Type", "application/json");
}

void send_error(httplib::Response& res, const std::string& path, int status,
                std::string_view message, std::string_view param = {}) {
  send_json(res, status, error_body(style_for_path(path), status, message, param));
}

// Answering before the body was read: the connection cannot carry another request.
void close_if_body_unread(const httplib::Request& req, httplib::Response& res) {
  if (!has_body(req)) return;
  if (ConnectionContext* ctx = HttpTransport::current()) ctx->close_after_response = true;
  res.set_header("Connection", "close");
}

std::string format_seconds(std::chrono::milliseconds duration) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g s", duration.count() / 1000.0);
  return buffer;
}

std::string default_model_name(const std::string& model) {
  std::filesystem::path path(model);
  while (!path.empty() && path.filename().empty()) path = path.parent_path();
  return path.filename().string();
}

}  // namespace

std::optional<uint64_t> parse_content_length(std::string_view value) {
  if (value.empty()) return std::nullopt;
  uint64_t length = 0;
  for (const char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (length > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      length = std::numeric_limits<uint64_t>::max();  // keep checking the digits
    } else {
      length = length * 10 + digit;
    }
  }
  return length;
}

bool constant_time_equal(std::string_view given, std::string_view expected) {
  // Every byte of `expected` is compared whatever `given` is, so timing reveals neither the
  // position of a difference nor (beyond the expected key's own length) anything else.
  volatile unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff = diff | (g ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

EmbeddingServer::EmbeddingServer(ServerOptions options)
    : options_(std::move(options)), transport_(options_.transport) {
  if (options_.served_model_name.empty()) {
    options_.served_model_name = default_model_name(options_.model);
  }
  request_id_prefix_ = std::random_device{}();
  transport_.set_payload_max_length(options_.payload_limit);
  transport_.on_request_done = [this](ConnectionContext& ctx) {
    if (ctx.holds_request_slot) {
      ctx.holds_request_slot = false;
      active_requests_.fetch_sub(1, std::memory_order_relaxed);
    }
  };
  install_routes();
  register_gauges();
}

EmbeddingServer::~EmbeddingServer() {
  if (listen_thread_.joinable()) {
    transport_.begin_shutdown();
    listen_thread_.join();
  }
  if (scheduler_) scheduler_->stop();
}

int EmbeddingServer::bind() { return transport_.bind(options_.host, options_.port); }

void EmbeddingServer::start() {
  std::promise<void> done;
  listen_done_ = done.get_future();
  listen_thread_ = std::thread([this, done = std::move(done)]() mutable {
    transport_.listen_after_bind();
    done.set_value();
  });
}

void EmbeddingServer::load_model() {
  kind_ = detect_model_kind(options_.model);
  const ModelInfo* loaded = nullptr;
  switch (kind_) {
    case ModelKind::kEmbedding:
      embedder_.emplace(Embedder::load(options_.model, options_.engine));
      executor_ = std::make_unique<EmbedderExecutor>(*embedder_);
      loaded = &embedder_->info();
      break;
    case ModelKind::kReranker:
    case ModelKind::kClassifier:
      reranker_.emplace(Reranker::load(options_.model, options_.engine));
      executor_ = std::make_unique<RerankerExecutor>(*reranker_);
      loaded = &reranker_->info().model;
      break;
    case ModelKind::kSparse:
      sparse_.emplace(SparseEncoder::load(options_.model, options_.engine));
      executor_ = std::make_unique<SparseExecutor>(*sparse_);
      loaded = &sparse_->info();
      break;
  }
  const ModelInfo& info = *loaded;
  SchedulerLimits limits;
  limits.max_batch_size =
      options_.max_batch_size > 0 ? options_.max_batch_size : std::max<size_t>(info.batch_size, 1);
  limits.express_max_tokens = options_.express_max_tokens;
  if (options_.max_batch_tokens > 0) {
    limits.max_batch_tokens = options_.max_batch_tokens;
  } else if (adaptive_batching(options_, info)) {
    // The budget follows the batch latency target (or, without one, throughput).
    runtime::AdaptiveTuner::Config config;
    config.target_latency_ms = options_.target_batch_ms;
    config.min_budget = 64;
    config.granularity = 16;
    config.max_budget = std::max<size_t>(info.max_batch_tokens, 4 * info.max_length);
    config.initial_budget =
        std::clamp<size_t>(info.max_batch_tokens, config.min_budget, config.max_budget);
    config.window = 4;
    tuner_ = std::make_unique<runtime::AdaptiveTuner>(config);
    limits.max_batch_tokens = tuner_->token_budget();
  } else {
    limits.max_batch_tokens = std::max<size_t>(info.max_batch_tokens, 1);
  }
  scheduler_ = std::make_unique<BatchScheduler>(
      *executor_, limits, [this](const BatchReport& report) { observe_batch(report); });
  if (embedder_) {
    service_ = std::make_unique<EmbeddingService>(*embedder_, *scheduler_, metrics_, options_,
                                                  options_.served_model_name);
  } else {
    scoring_ = std::make_unique<ScoringService>(reranker_ ? &*reranker_ : nullptr,
                                                sparse_ ? &*sparse_ : nullptr, *scheduler_,
                                                metrics_, options_, options_.served_model_name);
  }
  ready_.store(true, std::memory_order_release);
}

void EmbeddingServer::observe_batch(const BatchReport& report) {
  metrics_.record_batch(report.texts, report.tokens, report.duration_ms / 1000.0);
  // Express batches are small by design; they say nothing about the budget for the rest.
  if (tuner_ && !report.express &&
      tuner_->observe(report.tokens, report.texts, report.duration_ms)) {
    scheduler_->set_token_budget(tuner_->token_budget());
  }
}

bool EmbeddingServer::shutdown() {
  transport_.begin_shutdown();
  if (listen_thread_.joinable()) {
    if (listen_done_.wait_for(options_.shutdown_timeout) != std::future_status::ready) {
      return false;
    }
    listen_thread_.join();
  }
  if (scheduler_) scheduler_->stop();
  return true;
}

void EmbeddingServer::register_gauges() {
  const auto loaded = [this] { return ready(); };
  metrics_.add_gauge("embedrt_model_ready", "1 once the model is loaded.",
                     [loaded] { return loaded() ? 1.0 : 0.0; });
  metrics_.add_gauge("embedrt_queue_depth", "Texts waiting for a model batch.",
                     [this] { return ready() ? double(scheduler_->queued_texts()) : 0.0; });
  metrics_.add_gauge("embedrt_queue_requests", "Requests with texts waiting for a model batch.",
                     [this] { return ready() ? double(scheduler_->queued_jobs()) : 0.0; });
  metrics_.add_gauge(
      "embedrt_dropped_texts_total", "Queued texts dropped because their client disconnected.",
      [this] { return ready() ? double(scheduler_->dropped_texts()) : 0.0; }, true);
  metrics_.add_gauge("embedrt_batch_token_budget", "Current tokens-per-batch budget.",
                     [this] { return ready() ? double(scheduler_->token_budget()) : 0.0; });
  metrics_.add_gauge("embedrt_concurrent_requests", "Model requests being handled.",
                     [this] { return double(active_requests_.load()); });
  metrics_.add_gauge("embedrt_open_connections", "Open client connections.",
                     [this] { return double(transport_.open_connections()); });
  const auto cache = [this](auto field) {
    return [this, field] {
      return ready() && embedder_ ? double(field(embedder_->cache_stats())) : 0.0;
    };
  };
  metrics_.add_gauge("embedrt_cache_hits_total", "Embedding cache hits.",
                     cache([](const CacheStats& s) { return s.hits; }), true);
  metrics_.add_gauge("embedrt_cache_misses_total", "Embedding cache misses.",
                     cache([](const CacheStats& s) { return s.misses; }), true);
  metrics_.add_gauge("embedrt_cache_entries", "Embeddings held in the cache.",
                     cache([](const CacheStats& s) { return s.entries; }));
  metrics_.add_gauge("embedrt_cache_bytes", "Bytes held by the embedding cache.",
                     cache([](const CacheStats& s) { return s.bytes; }));
  metrics_.add_gauge("embedrt_cache_capacity_bytes", "Embedding cache bound (0 = off).",
                     cache([](const CacheStats& s) { return s.capacity_bytes; }));
  metrics_.add_gauge("process_resident_memory_bytes", "Resident set size of the process.",
                     [] { return double(process_rss_bytes()); });
}

std::string EmbeddingServer::make_request_id() {
  char id[48];
  std::snprintf(id, sizeof(id), "%08" PRIx64 "-%" PRIu64, request_id_prefix_,
                next_request_id_.fetch_add(1, std::memory_order_relaxed));
  return id;
}

bool EmbeddingServer::read_body(const httplib::Request& req,
                                const httplib::ContentReader& content_reader, std::string& body,
                                httplib::Response& res) {
  // The limit holds for the body as decoded: chunks joined and any Content-Encoding undone (a
  // small gzip body can inflate to gigabytes).
  const size_t limit = options_.payload_limit;
  bool over_limit = false;
  const bool complete = content_reader([&](const char* data, size_t length) {
    if (length > limit - body.size()) {
      over_limit = true;
      return false;
    }
    body.append(data, length);
    return true;
  });
  ConnectionContext* ctx = HttpTransport::current();
  // A decoded body can be far larger than what arrived (and the work on it larger still).
  if (ctx && body.size() >= kReleaseMemoryAfterBytes) ctx->release_memory = true;
  if (complete) return true;
  body.clear();
  body.shrink_to_fit();
  if (ctx) ctx->close_after_response = true;  // the rest of the body was not read
  res.set_header("Connection", "close");
  const ReadFailure failure = ctx ? ctx->read_failure : ReadFailure::kNone;
  if (over_limit || failure == ReadFailure::kBodyTooLarge) {
    const std::string encoding = req.get_header_value("Content-Encoding");
    send_error(res, req.path, 413,
               "request body over the payload limit of " + std::to_string(limit) + " bytes" +
                   (encoding.empty() ? "" : " once decoded (Content-Encoding " + encoding + ")"));
  } else if (failure == ReadFailure::kTimeout) {
    send_error(res, req.path, 408,
               "the request body did not arrive within the read timeout of " +
                   format_seconds(options_.transport.read_timeout));
  } else {
    send_error(res, req.path, 400, "malformed or incomplete request body");
  }
  return false;
}

void EmbeddingServer::install_routes() {
  auto& http = transport_;

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    ConnectionContext* ctx = HttpTransport::current();
    const Route* route = find_route(req.path);
    if (ctx) {
      const std::string given = req.get_header_value("x-request-id");
      ctx->request_id = acceptable_request_id(given) ? given : make_request_id();
      ctx->endpoint = route ? std::string(route->path) : "other";
    }
    using Handled = httplib::Server::HandlerResponse;
    if (const std::string error = framing_error(req); !error.empty()) {
      // Where this request ends is unclear, so nothing after it on the connection is read.
      if (ctx) ctx->close_after_response = true;
      res.set_header("Connection", "close");
      send_error(res, req.path, 400, error);
      return Handled::Handled;
    }
    if (route == nullptr) {
      close_if_body_unread(req, res);
      send_error(res, req.path, 404, "no route " + req.path);
      return Handled::Handled;
    }
    if (req.method != route->method && !(route->method == "GET" && req.method == "HEAD")) {
      close_if_body_unread(req, res);
      res.set_header("Allow", std::string(route->method));
      send_error(res, req.path, 405,
                 req.method + " is not allowed on " + req.path + " (use " +
                     std::string(route->method) + ")");
      return Handled::Handled;
    }
    if (!options_.api_key.empty() && route->path != "/health") {
      const std::string authorization = req.get_header_value("Authorization");
      constexpr std::string_view kBearer = "Bearer ";
      const std::string_view key = std::string_view(authorization).starts_with(kBearer)
                                       ? std::string_view(authorization).substr(kBearer.size())
                                       : std::string_view();
      if (!constant_time_equal(key, options_.api_key)) {
        close_if_body_unread(req, res);
        res.set_header("WWW-Authenticate", "Bearer");
        send_error(res, req.path, 401,
                   authorization.empty() ? "missing API key (Authorization: Bearer KEY)"
                                         : "invalid API key");
        return Handled::Handled;
      }
    }
    if (route->method == "POST" && !req.has_header("Content-Length") &&
        !req.has_header("Transfer-Encoding")) {
      // httplib would read such a body until the client closes its side.
      if (ctx) ctx->close_after_response = true;
      res.set_header("Connection", "close");
      send_error(res, req.path, 411,
                 "Content-Length required (or Transfer-Encoding: chunked) on " + req.path);
      return Handled::Handled;
    }
    // httplib reads no body on GET or HEAD: one sent anyway must not be read as the next request.
    if (route->method != "POST") close_if_body_unread(req, res);
    if (content_length(req) > options_.payload_limit) {
      close_if_body_unread(req, res);
      send_error(res, req.path, 413,
                 "request body of " + req.get_header_value("Content-Length") +
                     " bytes is over the payload limit of " +
                     std::to_string(options_.payload_limit) + " bytes");
      return Handled::Handled;
    }
    if (route->model) {
      if (!ready()) {
        close_if_body_unread(req, res);
        send_error(res, req.path, 503, "the model is loading");
        res.set_header("Retry-After", "1");
        return Handled::Handled;
      }
      if (active_requests_.fetch_add(1, std::memory_order_relaxed) >=
          options_.max_concurrent_requests) {
        active_requests_.fetch_sub(1, std::memory_order_relaxed);
        close_if_body_unread(req, res);
        res.set_header("Retry-After", "1");
        send_error(res, req.path, 429,
                   "too many concurrent requests (limit " +
                       std::to_string(options_.max_concurrent_requests) + "); retry later");
        return Handled::Handled;
      }
      if (ctx) ctx->holds_request_slot = true;
    }
    return Handled::Unhandled;
  });

  const auto model_handler = [this](auto call) {
    return [this, call](const httplib::Request& req, httplib::Response& res,
                        const httplib::ContentReader& content_reader) {
      ConnectionContext* ctx = HttpTransport::current();
      std::string body;
      if (!read_body(req, content_reader, body, res)) return;
      // TEI answers a route the loaded model cannot serve with 424 Failed Dependency.
      if (const Route* route = find_route(req.path); route && !(route->kinds & kind_bit(kind_))) {
        return send_error(res, req.path, 424, wrong_kind_message(req.path, kind_));
      }
      try {
        Reply reply = call(body, ctx ? ctx->fd : -1);
        if (reply.client_gone) {
          if (ctx) ctx->close_after_response = true;
          res.status = 499;  // the client closed the request; nobody reads this
          return;
        }
        res.set_header("x-tokenization-time", format_ms(reply.tokenization_ms));
        res.set_header("x-queue-time", format_ms(reply.queue_ms));
        res.set_header("x-inference-time", format_ms(reply.inference_ms));
        send_json(res, reply.status, std::move(reply.body));
      } catch (const ApiError& e) {
        send_error(res, req.path, e.status(), e.what(), e.param());
      } catch (const std::exception& e) {
        send_error(res, req.path, 500, std::string("internal error: ") + e.what());
      }
    };
  };
  http.Post("/v1/embeddings", model_handler([this](const std::string& body, int fd) {
              return service_->embed(ApiStyle::kOpenAI, body, fd);
            }));
  http.Post("/embed", model_handler([this](const std::string& body, int fd) {
              return service_->embed(ApiStyle::kTei, body, fd);
            }));
  http.Post("/tokenize", model_handler([this](const std::string& body, int) {
              return service_->tokenize(body);
            }));
  const auto request_id = [] {
    const ConnectionContext* ctx = HttpTransport::current();
    return ctx ? ctx->request_id : std::string();
  };
  http.Post("/rerank", model_handler([this, request_id](const std::string& body, int fd) {
              return scoring_->rerank(ApiStyle::kTei, body, fd, request_id());
            }));
  for (const char* path : {"/v1/rerank", "/v2/rerank"}) {
    http.Post(path, model_handler([this, request_id](const std::string& body, int fd) {
                return scoring_->rerank(ApiStyle::kOpenAI, body, fd, request_id());
              }));
  }
  http.Post("/predict", model_handler([this](const std::string& body, int fd) {
              return scoring_->predict(body, fd);
            }));
  http.Post("/embed_sparse", model_handler([this](const std::string& body, int fd) {
              return scoring_->embed_sparse(body, fd);
            }));

  http.Get("/health", [this](const httplib::Request& req, httplib::Response& res) {
    if (!ready()) {
      res.set_header("Retry-After", "1");
      send_error(res, req.path, 503, "the model is loading");
      return;
    }
    send_json(res, 200, "{\"status\":\"ok\"}");
  });
  http.Get("/info", [this](const httplib::Request& req, httplib::Response& res) {
    if (!ready()) return send_error(res, req.path, 503, "the model is loading");
    send_json(res, 200, service_ ? service_->info() : scoring_->info());
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    nlohmann::json model = {{"id", options_.served_model_name},
                            {"object", "model"},
                            {"created", 0},
                            {"owned_by", "embedrt"}};
    send_json(res, 200, nlohmann::json{{"object", "list"}, {"data", {model}}}.dump());
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.body = metrics_.render();
    res.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  });

  // Errors httplib answers by itself (a malformed request, a chunked body over the limit).
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        // The stream says why reading the request line or header fields failed.
        const ConnectionContext* ctx = HttpTransport::current();
        const ReadFailure failure = ctx ? ctx->read_failure : ReadFailure::kNone;
        if (failure == ReadFailure::kHeadersTooLarge) {
          res.status = 431;
        } else if (failure == ReadFailure::kTimeout && res.status == 400) {
          res.status = 408;
        }
        std::string message;
        switch (res.status) {
          case 400:
            message = "malformed HTTP request";
            break;
          case 408:
            message = "the request did not arrive within the read timeout of " +
                      format_seconds(options_.transport.read_timeout);
            break;
          case 431:
            message = "request line and header fields over the limit of " +
                      std::to_string(options_.transport.max_header_bytes) + " bytes";
            break;
          case 413:
            message = "request body over the payload limit of " +
                      std::to_string(options_.payload_limit) + " bytes";
            break;
          case 414:
            message = "request URI too long";
            break;
          default:
            message = "HTTP error " + std::to_string(res.status);
        }
        send_error(res, req.path, res.status, message);
        return httplib::Server::HandlerResponse::Handled;
      }));

  http.set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
    ConnectionContext* ctx = HttpTransport::current();
    if (ctx == nullptr) return;
    const double total_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - ctx->request_start).count();
    if (ctx->request_id.empty()) {
      // httplib rejected the request before routing (a malformed request line or headers):
      // what follows on the connection cannot be trusted either.
      ctx->request_id = make_request_id();
      ctx->close_after_response = true;
      res.set_header("Connection", "close");
    }
    res.set_header("x-request-id", ctx->request_id);
    res.set_header("x-total-time", format_ms(total_ms));
    for (const char* name : {"x-tokenization-time", "x-queue-time", "x-inference-time"}) {
      if (!res.has_header(name)) res.set_header(name, "0.000");
    }
    metrics_.record_request(ctx->endpoint.empty() ? "other" : ctx->endpoint, res.status,
                            total_ms / 1000.0);
  });
}

}  // namespace embedrt::server
