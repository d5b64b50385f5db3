// sentence-transformers pooling over packed token embeddings, and L2 normalization.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace embedrt::model {

enum class PoolingMode { kCls, kMax, kMean, kMeanSqrtLen, kWeightedMean, kLastToken };

std::string_view to_string(PoolingMode mode) noexcept;

struct PoolingConfig {
  int64_t embedding_dimension = 0;
  // Output is the concatenation in this order: the listed order of "pooling_mode", or for the
  // legacy pooling_mode_* booleans cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken.
  std::vector<PoolingMode> modes{PoolingMode::kMean};
  // false: the first prompt_length tokens of every sequence are left out of the pooling.
  bool include_prompt = true;

  int64_t output_dimension() const noexcept {
    return embedding_dimension * static_cast<int64_t>(modes.size());
  }
};

// Parses 1_Pooling/config.json text (both the pooling_mode form and the legacy boolean keys);
// errors name `file` and the field.
PoolingConfig parse_pooling_config(const std::string& json_text, const std::string& file);
PoolingConfig load_pooling_config(const std::filesystem::path& path);

// Pools hidden [offsets.back(), hidden_size] per sequence into out [num_seqs,
// config.output_dimension()]. prompt_length counts only when !config.include_prompt. Throws
// kInvalidModel when hidden_size differs from config.embedding_dimension and kInvalidArgument when
// a sequence has no token left to pool.
void pool(const PoolingConfig& config, std::span<const float> hidden, int64_t hidden_size,
          std::span<const int32_t> offsets, int64_t prompt_length, float* out);

// rows[r] /= max(||rows[r]||_2, 1e-12), as torch.nn.functional.normalize.
void l2_normalize(float* rows, int64_t num_rows, int64_t dim);

}  // namespace embedrt::model
