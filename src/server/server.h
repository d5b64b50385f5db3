// The embedding HTTP server: routes, limits, authentication and headers around the
// EmbeddingService, on the HttpTransport, with one BatchScheduler thread running the model.
//
//   EmbeddingServer server(options);
//   int port = server.bind();   // listening from here on: /health says 503 until loaded
//   server.start();
//   server.load_model();        // then 200
//   ...
//   server.shutdown();          // stop accepting, finish in-flight requests
#pragma once

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "embedrt/embedder.h"
#include "embedrt/model_kind.h"
#include "embedrt/reranker.h"
#include "embedrt/sparse_encoder.h"
#include "server/batch_scheduler.h"
#include "server/embedding_service.h"
#include "server/http_transport.h"
#include "server/metrics.h"
#include "server/scoring_service.h"
#include "server/server_options.h"

namespace embedrt::runtime {
class AdaptiveTuner;
}

namespace embedrt::server {

class EmbeddingServer {
 public:
  explicit EmbeddingServer(ServerOptions options);
  ~EmbeddingServer();
  EmbeddingServer(const EmbeddingServer&) = delete;
  EmbeddingServer& operator=(const EmbeddingServer&) = delete;

  // Binds the listening socket; returns the port (useful with port 0). Throws on failure.
  int bind();
  // Serves on a background thread; model endpoints answer 503 until load_model() returns.
  void start();
  // Loads the model (an embedder, cross-encoder or sparse encoder: detect_model_kind decides
  // which, and so which routes answer) and starts the scheduler. Throws embedrt::Error on a bad
  // model.
  void load_model();
  ModelKind model_kind() const { return kind_; }
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  // Stops accepting connections, closes idle ones, lets requests in flight finish, then stops
  // the scheduler. Returns false when that took longer than the shutdown timeout (the caller
  // should then exit regardless).
  bool shutdown();

  const ServerOptions& options() const { return options_; }
  Metrics& metrics() { return metrics_; }

 private:
  void install_routes();
  // Reads a model route's body into `body`; false after writing the error into `res`.
  bool read_body(const httplib::Request& req, const httplib::ContentReader& content_reader,
                 std::string& body, httplib::Response& res);
  void register_gauges();
  void observe_batch(const BatchReport& report);
  std::string make_request_id();

  ServerOptions options_;
  Metrics metrics_;
  HttpTransport transport_;
  std::thread listen_thread_;
  std::future<void> listen_done_;

  ModelKind kind_ = ModelKind::kEmbedding;  // set before ready_
  std::optional<Embedder> embedder_;
  std::optional<Reranker> reranker_;
  std::optional<SparseEncoder> sparse_;
  std::unique_ptr<BatchExecutor> executor_;
  std::unique_ptr<runtime::AdaptiveTuner> tuner_;
  std::unique_ptr<BatchScheduler> scheduler_;
  std::unique_ptr<EmbeddingService> service_;  // embedders
  std::unique_ptr<ScoringService> scoring_;    // cross-encoders and sparse encoders
  std::atomic<bool> ready_{false};
  std::atomic<size_t> active_requests_{0};
  std::atomic<uint64_t> next_request_id_{0};
  uint64_t request_id_prefix_ = 0;
};

// A Content-Length value: one or more digits and nothing else (no sign, no spaces). nullopt for
// anything else; a number past uint64_t reads as its maximum (over any payload limit).
std::optional<uint64_t> parse_content_length(std::string_view value);

// True when `given` equals `expected`, in time that does not depend on where they differ.
bool constant_time_equal(std::string_view given, std::string_view expected);

}  // namespace embedrt::server
