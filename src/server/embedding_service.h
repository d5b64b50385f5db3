// What the model endpoints do, without HTTP: a request body in, a response body out. Runs on the
// request's thread: parse and check, tokenize (prepare), queue the texts for the scheduler,
// wait, and write the answer. Failures are ApiErrors.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "embedrt/embedder.h"
#include "server/api_error.h"
#include "server/batch_scheduler.h"
#include "server/metrics.h"
#include "server/server_options.h"

namespace embedrt::server {

struct Reply {
  int status = 200;
  std::string body;
  double tokenization_ms = 0;
  double queue_ms = 0;
  double inference_ms = 0;
  bool client_gone = false;  // the client hung up while its texts waited; nothing to send
};

// Queues `prepared` as one job on the scheduler and waits for it. Returns the finished job, or null
// when the client hung up first (`reply` then says 499). Throws ApiError 503 while the server shuts
// down and 500 ("<what> failed: ...") when the batch failed. Sets reply's queue and inference
// times.
std::shared_ptr<Job> run_job(BatchScheduler& scheduler, std::vector<PreparedText> prepared,
                             int client_fd, Reply& reply, std::string_view what);

class EmbeddingService {
 public:
  EmbeddingService(const Embedder& embedder, BatchScheduler& scheduler, Metrics& metrics,
                   const ServerOptions& options, std::string model_name);

  // POST /v1/embeddings (kOpenAI) or POST /embed (kTei). `client_fd` (or -1) is watched for the
  // client hanging up while the request waits for the model.
  Reply embed(ApiStyle style, std::string_view body, int client_fd) const;
  // POST /tokenize.
  Reply tokenize(std::string_view body) const;
  // GET /info.
  std::string info() const;

  const std::string& model_name() const { return model_name_; }

 private:
  const Embedder& embedder_;
  BatchScheduler& scheduler_;
  Metrics& metrics_;
  const ServerOptions& options_;
  std::string model_name_;
};

}  // namespace embedrt::server
