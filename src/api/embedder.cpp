#include "embedrt/embedder.h"

#include <omp.h>

#include <algorithm>
#include <mutex>
#include <numeric>

#include "api/text_tokenizer_impl.h"
#include "embedrt/error.h"
#include "model/bert_encoder.h"
#include "model/pooling.h"
#include "model/safetensors.h"

namespace embedrt {
namespace {

namespace fs = std::filesystem;

model::PoolingMode parse_pooling_mode(const std::string& name) {
  using model::PoolingMode;
  if (name == "cls") return PoolingMode::kCls;
  if (name == "mean") return PoolingMode::kMean;
  if (name == "max") return PoolingMode::kMax;
  if (name == "mean_sqrt_len_tokens") return PoolingMode::kMeanSqrtLen;
  if (name == "weightedmean") return PoolingMode::kWeightedMean;
  if (name == "lasttoken") return PoolingMode::kLastToken;
  throw Error(ErrorCode::kInvalidArgument,
              "pooling '" + name +
                  "' is not one of cls, mean, max, mean_sqrt_len_tokens, weightedmean, lasttoken");
}

std::string describe_pooling(const model::PoolingConfig& config) {
  std::string out;
  for (const auto mode : config.modes) {
    if (!out.empty()) out += "+";
    out += model::to_string(mode);
  }
  return out;
}

// The floating-point tensors' dtype, or "mixed". Integer buffers (position_ids) do not count.
std::string weights_dtype(const model::SafeTensorsFile& file) {
  std::string dtype;
  for (const auto& [name, tensor] : file.tensors()) {
    if (tensor.dtype != model::DType::kF32 && tensor.dtype != model::DType::kF16 &&
        tensor.dtype != model::DType::kBF16) {
      continue;
    }
    const std::string this_dtype(model::to_string(tensor.dtype));
    if (dtype.empty()) {
      dtype = this_dtype;
    } else if (dtype != this_dtype) {
      return "mixed";
    }
  }
  return dtype;
}

size_t count_parameters(const model::BertConfig& c) {
  const size_t h = static_cast<size_t>(c.hidden_size);
  const size_t i = static_cast<size_t>(c.intermediate_size);
  const size_t embeddings =
      static_cast<size_t>(c.vocab_size + c.max_position_embeddings + c.type_vocab_size) * h + 2 * h;
  const size_t layer =
      (3 * h * h + 3 * h) + (h * h + h) + 2 * h + (i * h + i) + (h * i + h) + 2 * h;
  return embeddings + static_cast<size_t>(c.num_hidden_layers) * layer;
}

int resolve_threads(int threads) { return threads > 0 ? threads : omp_get_num_procs(); }

}  // namespace

struct Embedder::Impl {
  TextTokenizer tokenizer;
  model::BertEncoder encoder;
  model::PoolingConfig pooling;
  bool normalize = false;
  EmbedderOptions options;
  ModelInfo info;

  // Activation buffers, one per concurrent encode() call, reused across calls.
  mutable std::mutex workspaces_mutex;
  mutable std::vector<std::unique_ptr<model::Workspace>> free_workspaces;

  Impl(TextTokenizer tokenizer_in, model::BertEncoder encoder_in)
      : tokenizer(std::move(tokenizer_in)), encoder(std::move(encoder_in)) {}

  std::unique_ptr<model::Workspace> take_workspace() const {
    std::lock_guard lock(workspaces_mutex);
    if (free_workspaces.empty()) return std::make_unique<model::Workspace>();
    auto workspace = std::move(free_workspaces.back());
    free_workspaces.pop_back();
    return workspace;
  }

  void return_workspace(std::unique_ptr<model::Workspace> workspace) const {
    std::lock_guard lock(workspaces_mutex);
    free_workspaces.push_back(std::move(workspace));
  }

  std::string resolve_prompt(const EncodeOptions& options) const;
  int64_t prompt_length(const std::string& prompt) const;
};

std::string Embedder::Impl::resolve_prompt(const EncodeOptions& encode_options) const {
  const auto& folder = tokenizer.impl().folder;
  if (!encode_options.prompt.empty()) return encode_options.prompt;
  const std::string& name =
      encode_options.prompt_name.empty() ? folder.default_prompt_name : encode_options.prompt_name;
  if (name.empty()) return {};
  const auto it = folder.prompts.find(name);
  if (it == folder.prompts.end()) {
    std::string known;
    for (const auto& [prompt_name, text] : folder.prompts) {
      known += (known.empty() ? "" : ", ") + prompt_name;
    }
    throw Error(ErrorCode::kInvalidArgument,
                "prompt name '" + name + "' is not in config_sentence_transformers.json (" +
                    (known.empty() ? std::string("it defines no prompts") : "known: " + known) +
                    ")");
  }
  return it->second;
}

// Tokens the prompt occupies at the start of every text, as sentence-transformers counts them:
// the prompt tokenized alone, less its trailing special token.
int64_t Embedder::Impl::prompt_length(const std::string& prompt) const {
  if (prompt.empty()) return 0;
  const Encoding encoding = tokenizer.tokenize(prompt);
  auto length = static_cast<int64_t>(encoding.ids.size());
  if (length > 0 && encoding.special_tokens_mask.back() != 0) --length;
  return length;
}

Embedder Embedder::load(const std::string& model, const EmbedderOptions& options) {
  if (options.threads < 0) throw Error(ErrorCode::kInvalidArgument, "threads must be >= 0");
  if (options.batch_size == 0) throw Error(ErrorCode::kInvalidArgument, "batch size must be >= 1");

  TextTokenizerOptions tokenizer_options;
  tokenizer_options.max_length = options.max_length;
  tokenizer_options.threads = options.threads;
  TextTokenizer tokenizer = TextTokenizer::load(model, tokenizer_options);
  const model::ModelFolder& folder = tokenizer.impl().folder;

  const fs::path config_path = folder.transformer_dir / "config.json";
  const model::BertConfig config = model::load_bert_config(config_path);
  const fs::path weights_path = folder.transformer_dir / "model.safetensors";
  std::error_code ec;
  if (!fs::exists(weights_path, ec)) {
    throw Error(ErrorCode::kIo, weights_path.string() +
                                    ": no such file (embedrt reads safetensors weights; convert "
                                    "pytorch_model.bin with scripts/fetch_model.py)");
  }
  std::string dtype;
  model::BertWeights weights;
  {
    const model::SafeTensorsFile file(weights_path);
    dtype = weights_dtype(file);
    weights = model::load_bert_weights(file, config);
  }
  if (static_cast<int64_t>(tokenizer.vocab_size()) > config.vocab_size) {
    throw Error(ErrorCode::kInvalidModel,
                (folder.transformer_dir / "tokenizer.json").string() + ": vocabulary of " +
                    std::to_string(tokenizer.vocab_size()) + " tokens exceeds " +
                    config_path.string() + " vocab_size " + std::to_string(config.vocab_size));
  }

  auto impl =
      std::make_unique<Impl>(std::move(tokenizer), model::BertEncoder(config, std::move(weights)));
  impl->options = options;
  if (folder.pooling_dir) {
    impl->pooling = model::load_pooling_config(*folder.pooling_dir / "config.json");
  } else {
    impl->pooling.embedding_dimension = config.hidden_size;  // sentence-transformers' default: mean
  }
  if (impl->pooling.embedding_dimension != config.hidden_size) {
    throw Error(ErrorCode::kInvalidModel,
                (*folder.pooling_dir / "config.json").string() + ": word_embedding_dimension " +
                    std::to_string(impl->pooling.embedding_dimension) +
                    " differs from config.json hidden_size " + std::to_string(config.hidden_size));
  }
  if (!options.pooling.empty()) impl->pooling.modes = {parse_pooling_mode(options.pooling)};
  impl->normalize = options.normalize.value_or(folder.normalize);

  ModelInfo& info = impl->info;
  info.dir = folder.dir;
  info.architecture = "bert";
  info.dimension = static_cast<size_t>(impl->pooling.output_dimension());
  info.hidden_size = static_cast<size_t>(config.hidden_size);
  info.layers = static_cast<size_t>(config.num_hidden_layers);
  info.attention_heads = static_cast<size_t>(config.num_attention_heads);
  info.intermediate_size = static_cast<size_t>(config.intermediate_size);
  info.vocab_size = static_cast<size_t>(config.vocab_size);
  info.max_length = impl->tokenizer.max_length();
  info.activation = std::string(kernels::to_string(config.hidden_act));
  info.pooling = describe_pooling(impl->pooling);
  info.normalize = impl->normalize;
  info.parameters = count_parameters(config);
  info.weight_dtype = dtype;
  info.compute_dtype = "f32";
  return Embedder(std::move(impl));
}

Embeddings Embedder::encode(std::span<const std::string> texts,
                            const EncodeOptions& encode_options) const {
  const Impl& impl = *impl_;
  const std::string prompt = impl.resolve_prompt(encode_options);
  const int64_t prompt_length = impl.prompt_length(prompt);
  const int threads = resolve_threads(impl.options.threads);
  omp_set_num_threads(threads);

  std::vector<Encoding> encodings = impl.tokenizer.tokenize_batch(texts, prompt);

  Embeddings result;
  result.rows = texts.size();
  result.dimension = impl.info.dimension;
  result.values.resize(result.rows * result.dimension);
  for (size_t i = 0; i < encodings.size(); ++i) {
    const Encoding& encoding = encodings[i];
    result.total_tokens += encoding.ids.size();
    result.replaced_invalid_utf8 += encoding.replaced_invalid_utf8;
    if (encoding.truncated_tokens > 0) {
      ++result.truncated_texts;
      if (impl.options.on_overflow == OverflowPolicy::kError) {
        throw Error(ErrorCode::kInputTooLong,
                    "text " + std::to_string(encode_options.first_index + i) + " is " +
                        std::to_string(encoding.ids.size() + encoding.truncated_tokens) +
                        " tokens long, over the maximum of " +
                        std::to_string(impl.info.max_length));
      }
    }
  }

  // Sorting by length keeps batches homogeneous, so that attention work and buffer sizes follow
  // the texts' real lengths; results do not depend on batch composition.
  std::vector<size_t> order(encodings.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return encodings[a].ids.size() < encodings[b].ids.size();
  });

  auto workspace = impl.take_workspace();
  std::vector<int32_t> ids, type_ids, offsets;
  std::vector<float> pooled;
  const auto hidden_size = impl.encoder.config().hidden_size;
  for (size_t start = 0; start < order.size(); start += impl.options.batch_size) {
    const size_t end = std::min(order.size(), start + impl.options.batch_size);
    ids.clear();
    type_ids.clear();
    offsets.assign(1, 0);
    for (size_t k = start; k < end; ++k) {
      const Encoding& encoding = encodings[order[k]];
      ids.insert(ids.end(), encoding.ids.begin(), encoding.ids.end());
      type_ids.insert(type_ids.end(), encoding.type_ids.begin(), encoding.type_ids.end());
      offsets.push_back(static_cast<int32_t>(ids.size()));
    }
    const std::span<const float> hidden =
        impl.encoder.forward({ids, type_ids, offsets}, *workspace, impl.options.deterministic);
    pooled.resize((end - start) * result.dimension);
    model::pool(impl.pooling, hidden, hidden_size, offsets, prompt_length, pooled.data());
    if (impl.normalize) {
      model::l2_normalize(pooled.data(), static_cast<int64_t>(end - start),
                          static_cast<int64_t>(result.dimension));
    }
    for (size_t k = start; k < end; ++k) {
      std::copy_n(pooled.data() + (k - start) * result.dimension, result.dimension,
                  result.values.data() + order[k] * result.dimension);
    }
  }
  impl.return_workspace(std::move(workspace));
  return result;
}

const ModelInfo& Embedder::info() const noexcept { return impl_->info; }
const TextTokenizer& Embedder::tokenizer() const noexcept { return impl_->tokenizer; }

Embedder::Embedder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Embedder::Embedder(Embedder&&) noexcept = default;
Embedder& Embedder::operator=(Embedder&&) noexcept = default;
Embedder::~Embedder() = default;

}  // namespace embedrt
