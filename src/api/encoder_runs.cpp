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
  info.key_value_heads = size_t(spec.kv_heads());
  info.head_dim = size_t(spec.head_dim());
  info.intermediate_size = size_t(spec.intermediate_size);
  info.gated_mlp = spec.mlp == model::MlpKind::kGated;
  info.pre_norm = spec.norm_placement == model::NormPlacement::kPre;
  info.vocab_size = size_t(spec.vocab_size);
  info.activation = std::string(kernels::to_string(spec.hidden_act));
  info.precision = public_precision(encoder.precision());
  info.compute_dtype = std::string(to_string(info.precision));
  info.weight_bytes = encoder.weight_bytes();
  info.warnings = encoder.warnings();
  info.matmul_one_row = encoder.matmul_implementation(1);
  info.matmul_batch = encoder.matmul_implementation(256);
}

runtime::ModelShape model_shape(const ModelInfo& info) {
  runtime::ModelShape shape;
  shape.hidden_size = info.hidden_size;
  shape.intermediate_size = info.intermediate_size;
  shape.attention_heads = info.attention_heads;
  shape.key_value_heads = info.key_value_heads;
  shape.head_dim = info.head_dim;
  shape.gated_mlp = info.gated_mlp;
  shape.pre_norm = info.pre_norm;
  shape.layers = info.layers;
  shape.parameters = info.parameters;
  shape.vocab_size = info.vocab_size;
  shape.weight_bytes = info.weight_bytes;
  return shape;
}

}  // namespace embedrt
