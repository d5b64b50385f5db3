#include "model/pooling.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "embedrt/error.h"
#include "model/json_file.h"

namespace embedrt::model {
namespace {

using nlohmann::json;

constexpr std::pair<PoolingMode, const char*> kModeNames[] = {
    {PoolingMode::kCls, "cls"},
    {PoolingMode::kMax, "max"},
    {PoolingMode::kMean, "mean"},
    {PoolingMode::kMeanSqrtLen, "mean_sqrt_len_tokens"},
    {PoolingMode::kWeightedMean, "weightedmean"},
    {PoolingMode::kLastToken, "lasttoken"},
};

// sentence-transformers' legacy keys, in its concatenation order.
constexpr std::pair<const char*, PoolingMode> kLegacyKeys[] = {
    {"pooling_mode_cls_token", PoolingMode::kCls},
    {"pooling_mode_max_tokens", PoolingMode::kMax},
    {"pooling_mode_mean_tokens", PoolingMode::kMean},
    {"pooling_mode_mean_sqrt_len_tokens", PoolingMode::kMeanSqrtLen},
    {"pooling_mode_weightedmean_tokens", PoolingMode::kWeightedMean},
    {"pooling_mode_lasttoken", PoolingMode::kLastToken},
};

[[noreturn]] void fail(const std::string& file, const std::string& field, const std::string& what,
                       ErrorCode code = ErrorCode::kInvalidModel) {
  throw Error(code, file + ": " + field + ": " + what);
}

PoolingMode parse_mode(const json& value, const std::string& file, const std::string& field) {
  if (!value.is_string())
    fail(file, field, "expected a pooling mode string, found " + value.dump());
  const std::string name = value.get<std::string>();
  for (const auto& [mode, text] : kModeNames) {
    if (name == text) return mode;
  }
  fail(file, field,
       "'" + name +
           "' is not a pooling mode (expected cls, max, mean, mean_sqrt_len_tokens, "
           "weightedmean or lasttoken)",
       ErrorCode::kUnsupported);
}

}  // namespace

std::string_view to_string(PoolingMode mode) noexcept {
  for (const auto& [value, text] : kModeNames) {
    if (mode == value) return text;
  }
  return "?";
}

PoolingConfig parse_pooling_config(const std::string& json_text, const std::string& file) {
  const json root = parse_json_object(json_text, file);
  PoolingConfig c;

  const char* dim_key =
      root.contains("embedding_dimension") ? "embedding_dimension" : "word_embedding_dimension";
  const auto dim = root.find(dim_key);
  if (dim == root.end()) fail(file, "embedding_dimension", "missing (expected a positive integer)");
  if (!dim->is_number_integer() || dim->get<int64_t>() <= 0) {
    fail(file, dim_key, "expected a positive integer, found " + dim->dump());
  }
  c.embedding_dimension = dim->get<int64_t>();

  if (const auto mode = root.find("pooling_mode"); mode != root.end() && !mode->is_null()) {
    c.modes.clear();
    if (mode->is_array()) {
      if (mode->empty()) fail(file, "pooling_mode", "expected at least one mode");
      for (size_t i = 0; i < mode->size(); ++i) {
        c.modes.push_back(parse_mode((*mode)[i], file, "pooling_mode[" + std::to_string(i) + "]"));
      }
    } else {
      c.modes.push_back(parse_mode(*mode, file, "pooling_mode"));
    }
  } else {
    std::vector<PoolingMode> legacy;
    for (const auto& [key, mode] : kLegacyKeys) {
      const auto it = root.find(key);
      if (it == root.end() || it->is_null()) continue;
      if (!it->is_boolean()) fail(file, key, "expected true or false, found " + it->dump());
      if (it->get<bool>()) legacy.push_back(mode);
    }
    if (!legacy.empty()) c.modes = legacy;  // none set means sentence-transformers' default, mean
  }

  if (const auto it = root.find("include_prompt"); it != root.end() && !it->is_null()) {
    if (!it->is_boolean())
      fail(file, "include_prompt", "expected true or false, found " + it->dump());
    c.include_prompt = it->get<bool>();
  }
  return c;
}

PoolingConfig load_pooling_config(const std::filesystem::path& path) {
  return parse_pooling_config(read_text_file(path), path.string());
}

void pool(const PoolingConfig& config, std::span<const float> hidden, int64_t h,
          std::span<const int32_t> offsets, int64_t prompt_length, float* out) {
  if (h != config.embedding_dimension) {
    throw Error(ErrorCode::kInvalidModel, "1_Pooling/config.json: embedding_dimension: " +
                                              std::to_string(config.embedding_dimension) +
                                              " does not match the encoder's hidden size " +
                                              std::to_string(h));
  }
  const int64_t skip = config.include_prompt ? 0 : std::max<int64_t>(prompt_length, 0);
  const int64_t num_seqs = int64_t(offsets.size()) - 1;
  const int64_t out_dim = config.output_dimension();
  std::vector<double> acc(h);
  for (int64_t s = 0; s < num_seqs; ++s) {
    const int64_t begin = offsets[s] + skip, end = offsets[s + 1];
    if (begin >= end) {
      throw Error(ErrorCode::kInvalidArgument, "pooling: sequence " + std::to_string(s) + " has " +
                                                   std::to_string(end - offsets[s]) +
                                                   " tokens, none left after a prompt of " +
                                                   std::to_string(skip));
    }
    const float* x = hidden.data();
    float* dst = out + s * out_dim;
    for (PoolingMode mode : config.modes) {
      switch (mode) {
        case PoolingMode::kCls:
          std::copy(x + begin * h, x + (begin + 1) * h, dst);
          break;
        case PoolingMode::kLastToken:
          std::copy(x + (end - 1) * h, x + end * h, dst);
          break;
        case PoolingMode::kMax:
          std::fill(dst, dst + h, -std::numeric_limits<float>::infinity());
          for (int64_t t = begin; t < end; ++t) {
            for (int64_t c = 0; c < h; ++c) dst[c] = std::max(dst[c], x[t * h + c]);
          }
          break;
        case PoolingMode::kMean:
        case PoolingMode::kMeanSqrtLen: {
          std::fill(acc.begin(), acc.end(), 0.0);
          for (int64_t t = begin; t < end; ++t) {
            for (int64_t c = 0; c < h; ++c) acc[c] += x[t * h + c];
          }
          const double n = double(end - begin);
          const double denominator = mode == PoolingMode::kMean ? n : std::sqrt(n);
          for (int64_t c = 0; c < h; ++c) dst[c] = static_cast<float>(acc[c] / denominator);
          break;
        }
        case PoolingMode::kWeightedMean: {
          // Weights are 1-based positions in the whole sequence, prompt included.
          std::fill(acc.begin(), acc.end(), 0.0);
          double weight_sum = 0;
          for (int64_t t = begin; t < end; ++t) {
            const double w = double(t - offsets[s] + 1);
            weight_sum += w;
            for (int64_t c = 0; c < h; ++c) acc[c] += w * x[t * h + c];
          }
          for (int64_t c = 0; c < h; ++c) dst[c] = static_cast<float>(acc[c] / weight_sum);
          break;
        }
      }
      dst += h;
    }
  }
}

void l2_normalize(float* rows, int64_t num_rows, int64_t dim) {
  for (int64_t r = 0; r < num_rows; ++r) {
    float* row = rows + r * dim;
    double norm = 0;
    for (int64_t c = 0; c < dim; ++c) norm += double(row[c]) * row[c];
    const double scale = 1.0 / std::max(std::sqrt(norm), 1e-12);
    for (int64_t c = 0; c < dim; ++c) row[c] = static_cast<float>(row[c] * scale);
  }
}

}  // namespace embedrt::model
