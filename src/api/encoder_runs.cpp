#include "api/encoder_runs.h"

#include <chrono>
#include <string>

#include "api/optimize_modes.h"
#include "kernels/cpu/threads.h"

namespace embedrt {

WorkspacePool::Lease WorkspacePool::acquire() const {
  std::unique_ptr<model::Workspace> workspace;
  {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
      workspace = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (!workspace) workspace = std::make_unique<model::Workspace>();
  return Lease(*this, std::move(workspace));
}

void WorkspacePool::give_back(std::unique_ptr<model::Workspace> workspace) const {
  const size_t bytes = workspace->bytes();
  size_t seen = peak_bytes_.load();
  while (bytes > seen && !peak_bytes_.compare_exchange_weak(seen, bytes)) {
  }
  std::lock_guard lock(mutex_);
  free_.push_back(std::move(workspace));
}

TimedCheckpoint::TimedCheckpoint(const std::function<void()>& checkpoint, int threads) {
  if (!checkpoint) return;
  callback_ = [this, &checkpoint, threads] {
    const auto start = std::chrono::steady_clock::now();
    checkpoint();
    kernels::use_threads(threads);
    paused_ms_ +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
}

void describe_encoder(const model::TransformerSpec& spec, const model::TransformerEncoder& encoder,
                      ModelInfo& info) {
  info.architecture = spec.model_type;
  info.hidden_size = size_t(spec.hidden_size);
  info.layers = size_t(spec.num_hidden_layers);
  info.attention_heads = size_t(spec.num_attention_heads);
  info.intermediate_size = size_t(spec.intermediate_size);
  info.vocab_size = size_t(spec.vocab_size);
  info.activation = std::string(kernels::to_string(spec.hidden_act));
  info.precision = public_precision(encoder.precision());
  info.compute_dtype = std::string(to_string(info.precision));
  info.weight_bytes = encoder.weight_bytes();
  info.warnings = encoder.warnings();
  info.matmul_one_row = encoder.matmul_implementation(1);
  info.matmul_batch = encoder.matmul_implementation(256);
}

}  // namespace embedrt
