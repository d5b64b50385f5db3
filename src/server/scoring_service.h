// The model endpoints of cross-encoders and sparse encoders, without HTTP: a request body in, a
// response body out (as EmbeddingService does for embedders). Inputs are tokenized on the
// request's thread and queued on the same BatchScheduler, so pairs from several clients share
// model batches as texts do. Failures are ApiErrors.
#pragma once

#include <string>
#include <string_view>

#include "embedrt/reranker.h"
#include "embedrt/sparse_encoder.h"
#include "server/api_error.h"
#include "server/batch_scheduler.h"
#include "server/embedding_service.h"
#include "server/metrics.h"
#include "server/server_options.h"

namespace embedrt::server {

class ScoringService {
 public:
  // Exactly one of `reranker` and `sparse` is set.
  ScoringService(const Reranker* reranker, const SparseEncoder* sparse, BatchScheduler& scheduler,
                 Metrics& metrics, const ServerOptions& options, std::string model_name);

  // POST /rerank (kTei: TEI's list of {index, text?, score}) or POST /v1/rerank (kOpenAI:
  // Cohere's and Jina's {id, model, results: [{index, relevance_score, document?}], usage, meta}).
  // Needs a one-label model.
  Reply rerank(ApiStyle style, std::string_view body, int client_fd,
               std::string_view request_id) const;
  // POST /predict: TEI's [{score, label}] per input, labels by score descending.
  Reply predict(std::string_view body, int client_fd) const;
  // POST /embed_sparse: TEI's [[{index, value}]] per input.
  Reply embed_sparse(std::string_view body, int client_fd) const;
  // GET /info.
  std::string info() const;

 private:
  const Reranker* reranker_;
  const SparseEncoder* sparse_;
  BatchScheduler& scheduler_;
  Metrics& metrics_;
  const ServerOptions& options_;
  std::string model_name_;
};

}  // namespace embedrt::server
