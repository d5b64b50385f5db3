#include "model/st_modules.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string_view>

#include "embedrt/error.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/layer_norm.h"
#include "kernels/cpu/matmul.h"
#include "model/json_file.h"
#include "model/pooling.h"
#include "model/safetensors.h"

namespace embedrt::model {
namespace {

namespace fs = std::filesystem;

constexpr float kLayerNormEps = 1e-5f;  // torch.nn.LayerNorm's default, which the module keeps

[[noreturn]] void bad_field(const std::string& file, const std::string& field,
                            const std::string& what) {
  throw Error(ErrorCode::kInvalidModel, file + ": " + field + ": " + what);
}

int64_t positive_int(const nlohmann::json& config, const std::string& file, const char* key) {
  if (!config.contains(key)) bad_field(file, std::string("$.") + key, "missing");
  const auto& value = config[key];
  if (!value.is_number_integer() || value.get<int64_t>() <= 0) {
    bad_field(file, std::string("$.") + key, "expected a positive integer");
  }
  return value.get<int64_t>();
}

bool optional_bool(const nlohmann::json& config, const std::string& file, const char* key,
                   bool fallback) {
  if (!config.contains(key) || config[key].is_null()) return fallback;
  if (!config[key].is_boolean()) bad_field(file, std::string("$.") + key, "expected a boolean");
  return config[key].get<bool>();
}

// Dense and Normalize can read or write token embeddings (multi-vector models); embedrt's chain
// works on the pooled sentence embedding only.
void require_sentence_embedding(const nlohmann::json& config, const std::string& file) {
  for (const char* key : {"module_input_name", "module_output_name"}) {
    if (!config.contains(key) || config[key].is_null()) continue;
    if (!config[key].is_string()) bad_field(file, std::string("$.") + key, "expected a string");
    if (config[key].get<std::string>() != "sentence_embedding") {
      throw Error(ErrorCode::kUnsupported, file + ": $." + key + ": '" +
                                               config[key].get<std::string>() +
                                               "' is not supported (only sentence_embedding)");
    }
  }
}

DenseActivation parse_activation(const nlohmann::json& value, const std::string& file) {
  const std::string field = "$.activation_function";
  if (!value.is_string()) bad_field(file, field, "expected a string naming a torch.nn class");
  const std::string path = value.get<std::string>();
  // sentence-transformers imports any torch.* path (torch.nn.modules.activation.Tanh as written,
  // or torch.nn.Tanh); other paths are custom code it runs only with trust_remote_code.
  const std::string_view name =
      std::string_view(path).substr(path.rfind('.') == std::string::npos ? 0 : path.rfind('.') + 1);
  if (path.starts_with("torch.")) {
    if (name == "Identity") return DenseActivation::kIdentity;
    if (name == "Tanh") return DenseActivation::kTanh;
    if (name == "ReLU") return DenseActivation::kRelu;
    if (name == "GELU") return DenseActivation::kGelu;
    if (name == "SiLU") return DenseActivation::kSilu;
    if (name == "Sigmoid") return DenseActivation::kSigmoid;
  }
  throw Error(ErrorCode::kUnsupported,
              file + ": " + field + ": '" + path +
                  "' is not supported (torch.nn Identity, Tanh, ReLU, GELU, SiLU or Sigmoid)");
}

std::string_view activation_name(DenseActivation activation) {
  switch (activation) {
    case DenseActivation::kIdentity:
      return "identity";
    case DenseActivation::kTanh:
      return "tanh";
    case DenseActivation::kRelu:
      return "relu";
    case DenseActivation::kGelu:
      return "gelu";
    case DenseActivation::kSilu:
      return "silu";
    case DenseActivation::kSigmoid:
      return "sigmoid";
  }
  return "?";
}

void apply(DenseActivation activation, float* x, int64_t n) {
  switch (activation) {
    case DenseActivation::kIdentity:
      return;
    case DenseActivation::kRelu:
      return kernels::apply_activation(kernels::Activation::kRelu, x, n);
    case DenseActivation::kGelu:  // torch.nn.GELU() is the erf form
      return kernels::apply_activation(kernels::Activation::kGeluErf, x, n);
    case DenseActivation::kSilu:
      return kernels::apply_activation(kernels::Activation::kSilu, x, n);
    case DenseActivation::kTanh:  // pooled vectors are small: no vector kernel needed
      for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
      return;
    case DenseActivation::kSigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = 1.0f / (1.0f + std::exp(-x[i]));
      return;
  }
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// A module's weights: model.safetensors in its folder. sentence-transformers also reads
// pytorch_model.bin, a pickle embedrt does not open.
fs::path module_weights(const fs::path& dir) {
  std::error_code ec;
  const fs::path file = dir / "model.safetensors";
  if (fs::exists(file, ec)) return file;
  if (fs::exists(dir / "pytorch_model.bin", ec)) {
    throw Error(ErrorCode::kUnsupported,
                (dir / "pytorch_model.bin").string() +
                    ": embedrt reads safetensors weights only; convert it to model.safetensors "
                    "(scripts/fetch_model.py converts it when fetching)");
  }
  throw Error(ErrorCode::kIo, file.string() + ": no such file");
}

std::vector<float> tensor(const SafeTensorsFile& file, const std::string& name,
                          const std::vector<int64_t>& shape) {
  if (!file.contains(name)) {
    throw Error(ErrorCode::kInvalidModel, file.path().string() + ": tensor " + name +
                                              " missing (expected " + shape_string(shape) + ")");
  }
  const auto& info = file.info(name);
  if (info.shape != shape) {
    throw Error(ErrorCode::kInvalidModel, file.path().string() + ": tensor " + name + " " +
                                              shape_string(info.shape) + " (expected " +
                                              shape_string(shape) + ")");
  }
  return file.to_float(name);
}

void check_input(const fs::path& config_file, const char* field, int64_t value, int64_t input) {
  if (value != input) {
    bad_field(config_file.string(), std::string("$.") + field,
              std::to_string(value) + " differs from the " + std::to_string(input) +
                  " values the module before it gives");
  }
}

}  // namespace

DenseConfig parse_dense_config(const std::string& json_text, const std::string& file) {
  const nlohmann::json config = parse_json_object(json_text, file);
  DenseConfig out;
  out.in_features = positive_int(config, file, "in_features");
  out.out_features = positive_int(config, file, "out_features");
  out.bias = optional_bool(config, file, "bias", true);
  out.use_residual = optional_bool(config, file, "use_residual", false);
  // Absent: the constructor's Tanh. null makes sentence-transformers fail, so it is an error here.
  if (config.contains("activation_function")) {
    out.activation = parse_activation(config["activation_function"], file);
  }
  require_sentence_embedding(config, file);
  return out;
}

int64_t parse_layer_norm_dimension(const std::string& json_text, const std::string& file) {
  return positive_int(parse_json_object(json_text, file), file, "dimension");
}

struct OutputChain::Step {
  OutputModule::Kind kind;
  int64_t in = 0, out = 0;
  // Dense
  std::optional<kernels::Linear> linear;
  std::optional<kernels::Linear> residual;  // use_residual with in != out
  bool add_input = false;                   // use_residual with in == out
  bool bias = false;
  DenseActivation activation = DenseActivation::kIdentity;
  // LayerNorm
  std::vector<float> gamma, beta;

  size_t parameters() const {
    size_t n = gamma.size() + beta.size();
    if (linear) n += size_t(in * out) + (bias ? size_t(out) : 0);
    if (residual) n += size_t(in * out);
    return n;
  }
};

OutputChain::OutputChain() = default;
OutputChain::~OutputChain() = default;
OutputChain::OutputChain(OutputChain&&) noexcept = default;
OutputChain& OutputChain::operator=(OutputChain&&) noexcept = default;

OutputChain OutputChain::load(std::span<const OutputModule> modules, int64_t input_dimension) {
  OutputChain chain;
  chain.input_dimension_ = input_dimension;
  int64_t dimension = input_dimension;
  for (const OutputModule& module : modules) {
    auto step = std::make_unique<Step>();
    step->kind = module.kind;
    step->in = dimension;
    step->out = dimension;
    const fs::path config_file = module.dir / "config.json";
    switch (module.kind) {
      case OutputModule::Kind::kDense: {
        const DenseConfig config =
            parse_dense_config(read_text_file(config_file), config_file.string());
        check_input(config_file, "in_features", config.in_features, dimension);
        const SafeTensorsFile weights(module_weights(module.dir));
        const std::vector<float> weight =
            tensor(weights, "linear.weight", {config.out_features, config.in_features});
        std::vector<float> bias;
        if (config.bias) bias = tensor(weights, "linear.bias", {config.out_features});
        kernels::LinearSpec spec;
        spec.in_features = config.in_features;
        spec.out_features = config.out_features;
        step->linear.emplace(spec, weight.data(), config.bias ? bias.data() : nullptr);
        if (config.use_residual && config.in_features != config.out_features) {
          const std::vector<float> projection =
              tensor(weights, "residual.weight", {config.out_features, config.in_features});
          step->residual.emplace(spec, projection.data(), nullptr);
        }
        step->bias = config.bias;
        step->add_input = config.use_residual && config.in_features == config.out_features;
        step->activation = config.activation;
        step->out = config.out_features;
        break;
      }
      case OutputModule::Kind::kLayerNorm: {
        const int64_t dim =
            parse_layer_norm_dimension(read_text_file(config_file), config_file.string());
        check_input(config_file, "dimension", dim, dimension);
        const SafeTensorsFile weights(module_weights(module.dir));
        step->gamma = tensor(weights, "norm.weight", {dim});
        step->beta = tensor(weights, "norm.bias", {dim});
        break;
      }
      case OutputModule::Kind::kNormalize:
        break;
    }
    dimension = step->out;
    chain.steps_.push_back(std::move(step));
  }
  chain.output_dimension_ = dimension;
  return chain;
}

bool OutputChain::empty() const noexcept { return steps_.empty(); }

size_t OutputChain::parameters() const noexcept {
  size_t n = 0;
  for (const auto& step : steps_) n += step->parameters();
  return n;
}

std::string OutputChain::describe() const {
  std::string out;
  for (const auto& step : steps_) {
    if (!out.empty()) out += " -> ";
    switch (step->kind) {
      case OutputModule::Kind::kDense:
        out += "Dense(" + std::to_string(step->in) + "->" + std::to_string(step->out);
        if (step->activation != DenseActivation::kIdentity) {
          out += ", " + std::string(activation_name(step->activation));
        }
        if (step->residual || step->add_input) out += ", residual";
        out += ")";
        break;
      case OutputModule::Kind::kLayerNorm:
        out += "LayerNorm(" + std::to_string(step->in) + ")";
        break;
      case OutputModule::Kind::kNormalize:
        out += "Normalize";
        break;
    }
  }
  return out;
}

void OutputChain::forward(const float* in, int64_t rows, float* out) const {
  if (steps_.empty()) {
    std::copy_n(in, rows * input_dimension_, out);
    return;
  }
  std::vector<float> current(in, in + rows * input_dimension_), next, projected;
  for (const auto& step : steps_) {
    switch (step->kind) {
      case OutputModule::Kind::kDense:
        next.resize(size_t(rows * step->out));
        step->linear->forward(current.data(), rows, next.data());
        apply(step->activation, next.data(), rows * step->out);
        if (step->residual) {
          projected.resize(next.size());
          step->residual->forward(current.data(), rows, projected.data());
          for (size_t i = 0; i < next.size(); ++i) next[i] += projected[i];
        } else if (step->add_input) {
          for (size_t i = 0; i < next.size(); ++i) next[i] += current[i];
        }
        current.swap(next);
        break;
      case OutputModule::Kind::kLayerNorm:
        kernels::add_layer_norm(current.data(), nullptr, step->gamma.data(), step->beta.data(),
                                kLayerNormEps, rows, step->in, current.data());
        break;
      case OutputModule::Kind::kNormalize:
        l2_normalize(current.data(), rows, step->in);
        break;
    }
  }
  std::copy(current.begin(), current.end(), out);
}

StaticEmbedding StaticEmbedding::load(const fs::path& dir) {
  const SafeTensorsFile file(module_weights(dir));
  // sentence-transformers saves embedding.weight; model2vec folders hold "embeddings" and may
  // add a token mapping and per-token weights that embedrt does not fold.
  for (const char* folded : {"mapping", "weights"}) {
    if (file.contains(folded)) {
      throw Error(ErrorCode::kUnsupported,
                  file.path().string() + ": tensor " + folded +
                      " (a model2vec vocabulary mapping or token weights) is not supported");
    }
  }
  const std::string name = file.contains("embedding.weight") ? "embedding.weight" : "embeddings";
  if (!file.contains(name)) {
    throw Error(ErrorCode::kInvalidModel,
                file.path().string() + ": tensor embedding.weight missing (expected [vocab, dim])");
  }
  const auto& info = file.info(name);
  if (info.shape.size() != 2 || info.shape[0] <= 0 || info.shape[1] <= 0) {
    throw Error(ErrorCode::kInvalidModel, file.path().string() + ": tensor " + name + " " +
                                              shape_string(info.shape) +
                                              " (expected [vocab, dim])");
  }
  StaticEmbedding out;
  out.rows_ = info.shape[0];
  out.dimension_ = info.shape[1];
  out.weight_dtype_ = std::string(to_string(info.dtype));
  out.table_ = file.to_float(name);
  return out;
}

void StaticEmbedding::embed(std::span<const int32_t> ids, std::span<const int32_t> offsets,
                            float* out) const {
  const auto dim = static_cast<size_t>(dimension_);
  const auto num_seqs = static_cast<int64_t>(offsets.size()) - 1;
  // One thread: gathering rows is bound by memory, and a parallel region per batch cost more than
  // it saved when measured (2 threads ran 9x slower on a loaded 2-core VM, each region's barrier
  // waiting on a preempted thread).
  for (int64_t s = 0; s < num_seqs; ++s) {
    float* row = out + size_t(s) * dim;
    std::fill_n(row, dim, 0.0f);
    const int32_t begin = offsets[size_t(s)], end = offsets[size_t(s) + 1];
    // Summed in token order, then scaled, as EmbeddingBag's CPU mean does.
    for (int32_t t = begin; t < end; ++t) {
      const float* source = table_.data() + size_t(ids[size_t(t)]) * dim;
#pragma omp simd
      for (size_t d = 0; d < dim; ++d) row[d] += source[d];
    }
    if (end > begin) {
      const float scale = 1.0f / static_cast<float>(end - begin);
      for (size_t d = 0; d < dim; ++d) row[d] *= scale;
    }
  }
}

}  // namespace embedrt::model
