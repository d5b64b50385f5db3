// What every class that runs the encoder on batches shares (Embedder, Reranker, SparseEncoder):
// a pool of activation workspaces, a checkpoint wrapper that keeps other batches' time out of a
// batch's own, and the ModelInfo fields an encoder describes.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "embedrt/embedder.h"
#include "model/transformer_encoder.h"
#include "model/transformer_spec.h"
#include "runtime/memory_model.h"

namespace embedrt {

// Workspaces, one per model batch running at once, reused across calls so that a warm model
// allocates nothing. Thread-safe.
class WorkspacePool {
 public:
  // A workspace out of the pool (or a new one); it goes back when the lease ends, exceptions
  // included.
  class Lease {
   public:
    Lease(const WorkspacePool& pool, std::unique_ptr<model::Workspace> workspace)
        : pool_(pool), workspace_(std::move(workspace)) {}
    ~Lease() { pool_.give_back(std::move(workspace_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    model::Workspace& operator*() const noexcept { return *workspace_; }

   private:
    const WorkspacePool& pool_;
    std::unique_ptr<model::Workspace> workspace_;
  };

  Lease acquire() const;
  // The largest Workspace::bytes() given back so far.
  size_t peak_bytes() const noexcept { return peak_bytes_.load(); }

 private:
  void give_back(std::unique_ptr<model::Workspace> workspace) const;

  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<model::Workspace>> free_;
  mutable std::atomic<size_t> peak_bytes_{0};
};

// A batch's checkpoint as the encoder calls it: the time spent inside (other batches' work) is
// counted apart, and this model's thread count is set again afterwards, since the checkpoint's
// batches set their own. Neither copied nor moved: callback() refers to this object.
class TimedCheckpoint {
 public:
  TimedCheckpoint(const std::function<void()>& checkpoint, int threads);
  TimedCheckpoint(const TimedCheckpoint&) = delete;
  TimedCheckpoint& operator=(const TimedCheckpoint&) = delete;

  // Empty when there is no checkpoint.
  const std::function<void()>& callback() const noexcept { return callback_; }
  double paused_ms() const noexcept { return paused_ms_; }

 private:
  std::function<void()> callback_;
  double paused_ms_ = 0;
};

// The ModelInfo fields that come from the spec and the loaded encoder: architecture, sizes,
// activation, precision, weight bytes, warnings and matmul kernels.
void describe_encoder(const model::TransformerSpec& spec, const model::TransformerEncoder& encoder,
                      ModelInfo& info);

// The memory model's view of a described model (weight_bytes included: 0 means estimate them).
runtime::ModelShape model_shape(const ModelInfo& info);

}  // namespace embedrt
