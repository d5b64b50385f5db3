#include "embedrt/embedder.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <utility>

#include "api/encoder_runs.h"
#include "api/optimize_modes.h"
#include "api/text_tokenizer_impl.h"
#include "embedrt/error.h"
#include "kernels/cpu/threads.h"
#include "model/pooling.h"
#include "model/safetensors.h"
#include "model/st_modules.h"
#include "model/transformer_encoder.h"
#include "runtime/adaptive_tuner.h"
#include "runtime/batch_planner.h"
#include "runtime/embedding_cache.h"
#include "runtime/memory_model.h"

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

size_t count_parameters(const model::TransformerSpec& c) {
  const size_t h = static_cast<size_t>(c.hidden_size);
  const size_t i = static_cast<size_t>(c.intermediate_size);
  const size_t norm = c.norm_bias ? 2 * h : h;
  const size_t positions = c.position == model::PositionKind::kLearnedAbsolute
                               ? static_cast<size_t>(c.max_position_embeddings)
                               : 0;
  size_t total = (static_cast<size_t>(c.vocab_size + c.type_vocab_size) + positions) * h +
                 (c.names.embedding_norm.empty() ? 0 : norm) +
                 (c.names.final_norm.empty() ? 0 : norm) +
                 static_cast<size_t>(c.relative_attention_num_buckets * c.num_attention_heads);
  // Q/K/V (grouped K/V heads and a head size of its own in decoders), output, up (both gated
  // halves), down, and the layer's norms.
  const size_t qkv = static_cast<size_t>(c.qkv_dim()), q = static_cast<size_t>(c.query_dim());
  const size_t up = c.mlp == model::MlpKind::kGated ? 2 * i : i;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    total += qkv * h + q * h + (c.attention_bias ? qkv + h : 0);
    total += up * h + (c.mlp_bias ? up : 0) + h * i + (c.has_mlp_down_bias() ? h : 0);
    total += (l > 0 || c.first_layer_attention_norm ? norm : 0) + norm;
    if (!c.names.query_norm.empty()) total += 2 * static_cast<size_t>(c.head_dim());
    if (!c.names.post_attention_norm.empty()) total += h;
    if (!c.names.post_ffn_norm.empty()) total += h;
  }
  return total;
}

using Clock = std::chrono::steady_clock;

double elapsed_ms(Clock::time_point since, Clock::time_point until = Clock::now()) {
  return std::chrono::duration<double, std::milli>(until - since).count();
}

constexpr double kBytesPerMb = 1024.0 * 1024.0;

// Texts tokenized per step of encode(): the next step is tokenized while the model runs this one.
// Large enough that sorting by length within a step still forms homogeneous batches.
constexpr size_t kTextsPerStep = 1024;

// Everything that changes a vector besides the model and the Embedder's options: the side that
// truncation cuts, normalization, the prompt, and the exact input.
std::string cache_key(char kind, TruncationSide side, bool normalize, std::string_view prompt,
                      std::string_view input) {
  std::string key;
  key.reserve(8 + prompt.size() + input.size());
  key += kind;
  key += side == TruncationSide::kLeft ? 'L' : 'R';
  key += normalize ? 'N' : 'n';
  const auto prompt_size = static_cast<uint32_t>(prompt.size());
  key.append(reinterpret_cast<const char*>(&prompt_size), sizeof prompt_size);
  key += prompt;
  key += input;
  return key;
}

// Matryoshka truncation, after the whole module chain: the first `dimensions` values, scaled
// back to unit length when the embedding is normalized. The cache holds the full vector.
void truncate_embedding(PreparedText& item) {
  if (item.dimensions == 0 || item.dimensions >= item.embedding.size()) return;
  item.embedding.resize(item.dimensions);
  if (item.normalize) {
    model::l2_normalize(item.embedding.data(), 1, static_cast<int64_t>(item.dimensions));
  }
}

// `dimensions` of a model whose embeddings have `full` values; `what` names the option.
size_t checked_dimensions(size_t dimensions, size_t full, const std::string& what) {
  if (dimensions == 0 || dimensions > full) {
    throw Error(ErrorCode::kInvalidArgument, what + " " + std::to_string(dimensions) +
                                                 " is out of range: the model's " +
                                                 "embeddings have " + std::to_string(full) +
                                                 " dimensions (1 to " + std::to_string(full) + ")");
  }
  return dimensions;
}

}  // namespace

struct Embedder::Impl {
  TextTokenizer tokenizer;
  // The input module: a transformer whose token states are pooled, or a StaticEmbedding table.
  std::optional<model::TransformerEncoder> encoder;
  std::optional<model::StaticEmbedding> static_embedding;
  model::PoolingConfig pooling;
  model::OutputChain output_chain;  // Dense, LayerNorm, ... after pooling
  bool normalize = false;
  size_t dimensions = 0;  // the default Matryoshka truncation (the full dimension when none)
  EmbedderOptions options;
  ResolvedKnobs knobs;
  ModelInfo info;
  std::unique_ptr<runtime::EmbeddingCache> cache;  // null when off
  std::unique_ptr<runtime::AdaptiveTuner> tuner;   // null unless adaptive batching is on

  // Activation buffers, one per concurrent model batch, reused across calls.
  WorkspacePool workspaces;

  explicit Impl(TextTokenizer tokenizer_in) : tokenizer(std::move(tokenizer_in)) {}

  static Embedder load_static_embedding(TextTokenizer tokenizer, const EmbedderOptions& options,
                                        const ResolvedKnobs& knobs);
  // What follows the input module (modules.json after pooling, normalization) and the runtime
  // knobs, for either input module.
  void finish_load(const model::ModelFolder& folder, int64_t pooled_dimension);

  std::string resolve_prompt(const EncodeOptions& options) const;
  int64_t prompt_length(const std::string& prompt) const;
  // prepare() with the tokenizer's own thread count, or on the calling thread alone when
  // `parallel` is false (tokenizing beside a running model batch).
  std::vector<PreparedText> prepare(std::span<const std::string> texts,
                                    const EncodeOptions& options, bool parallel) const;
  void check_overflow(const PreparedText& item, size_t index, const EncodeOptions& options) const;
  size_t dimensions_for(const EncodeOptions& options) const {
    if (!options.dimensions) return dimensions;
    return checked_dimensions(*options.dimensions, info.model_dimension, "dimensions");
  }
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

void Embedder::Impl::check_overflow(const PreparedText& item, size_t index,
                                    const EncodeOptions& encode_options) const {
  if (item.encoding.truncated_tokens == 0) return;
  if (encode_options.on_overflow.value_or(options.on_overflow) != OverflowPolicy::kError) return;
  throw Error(ErrorCode::kInputTooLong,
              "text " + std::to_string(encode_options.first_index + index) + " is " +
                  std::to_string(item.tokens + item.encoding.truncated_tokens) +
                  " tokens long, over the maximum of " + std::to_string(info.max_length));
}

std::vector<PreparedText> Embedder::Impl::prepare(std::span<const std::string> texts,
                                                  const EncodeOptions& encode_options,
                                                  bool parallel) const {
  const std::string prompt = resolve_prompt(encode_options);
  const int64_t prompt_tokens = prompt_length(prompt);
  const bool normalize_rows = encode_options.normalize.value_or(normalize);
  const TruncationSide side = encode_options.truncation_side;
  const size_t dimensions = dimensions_for(encode_options);

  std::vector<PreparedText> items(texts.size());
  std::vector<size_t> misses;
  misses.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    PreparedText& item = items[i];
    item.prompt_length = prompt_tokens;
    item.normalize = normalize_rows;
    item.dimensions = dimensions;
    if (!cache) {
      misses.push_back(i);
      continue;
    }
    item.cache_key = cache_key('T', side, normalize_rows, prompt, texts[i]);
    if (auto hit = cache->find(item.cache_key)) {
      item.embedding = std::move(hit->values);
      truncate_embedding(item);
      item.from_cache = true;
      item.tokens = hit->tokens;
      item.encoding.truncated_tokens = hit->truncated_tokens;
      item.encoding.replaced_invalid_utf8 = hit->replaced_invalid_utf8;
    } else {
      misses.push_back(i);
    }
  }

  if (parallel && misses.size() == texts.size()) {
    std::vector<Encoding> encodings = tokenizer.tokenize_batch(texts, prompt, side);
    for (size_t i = 0; i < texts.size(); ++i) items[i].encoding = std::move(encodings[i]);
  } else {
    for (const size_t i : misses) items[i].encoding = tokenizer.tokenize(texts[i], prompt, side);
  }
  for (const size_t i : misses) items[i].tokens = items[i].encoding.ids.size();
  for (size_t i = 0; i < items.size(); ++i) check_overflow(items[i], i, encode_options);
  return items;
}

void Embedder::Impl::finish_load(const model::ModelFolder& folder, int64_t pooled_dimension) {
  output_chain = model::OutputChain::load(folder.output_modules, pooled_dimension);
  normalize = options.normalize.value_or(folder.normalize);
  const auto model_dimension = static_cast<size_t>(output_chain.output_dimension());
  if (options.dimensions) {
    dimensions = checked_dimensions(*options.dimensions, model_dimension, "dimensions");
  } else {
    // sentence-transformers slices with [:truncate_dim], so a larger value keeps every dimension.
    dimensions = std::min(folder.truncate_dim.value_or(model_dimension), model_dimension);
  }
  if (knobs.adaptive_batching) {
    runtime::AdaptiveTuner::Config tuner_config;
    tuner_config.initial_budget = knobs.max_batch_tokens;
    tuner_config.min_budget = std::min<size_t>(tuner_config.min_budget, knobs.max_batch_tokens);
    tuner_config.max_budget = std::max<size_t>(tuner_config.max_budget, knobs.max_batch_tokens);
    tuner_config.granularity = std::min(tuner_config.granularity, tuner_config.min_budget);
    if (options.target_latency_ms > 0) tuner_config.target_latency_ms = options.target_latency_ms;
    tuner = std::make_unique<runtime::AdaptiveTuner>(tuner_config);
  }
  if (knobs.cache_bytes > 0) cache = std::make_unique<runtime::EmbeddingCache>(knobs.cache_bytes);

  info.dir = folder.dir;
  info.dimension = dimensions;
  info.model_dimension = model_dimension;
  info.output_modules = output_chain.describe();
  info.normalize = normalize;
  info.max_length = tokenizer.max_length();
  info.optimize = options.optimize;
  info.threads = knobs.threads;
  info.batch_size = knobs.batch_size;
  info.max_batch_tokens = knobs.max_batch_tokens;
  info.cache_bytes = knobs.cache_bytes;
  info.deterministic = knobs.deterministic;
  info.adaptive_batching = knobs.adaptive_batching;
}

Embedder Embedder::Impl::load_static_embedding(TextTokenizer tokenizer,
                                               const EmbedderOptions& options,
                                               const ResolvedKnobs& knobs) {
  const model::ModelFolder& folder = tokenizer.impl().folder;
  if (!options.pooling.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "pooling '" + options.pooling + "': " + folder.dir.string() +
                    " is a StaticEmbedding model, which averages its tokens and has no pooling");
  }
  auto impl = std::make_unique<Impl>(std::move(tokenizer));
  impl->options = options;
  impl->knobs = knobs;
  const model::StaticEmbedding& table =
      impl->static_embedding.emplace(model::StaticEmbedding::load(folder.transformer_dir));
  if (static_cast<int64_t>(impl->tokenizer.vocab_size()) > table.vocab_size()) {
    throw Error(ErrorCode::kInvalidModel,
                (folder.transformer_dir / "tokenizer.json").string() + ": vocabulary of " +
                    std::to_string(impl->tokenizer.vocab_size()) + " tokens exceeds the " +
                    std::to_string(table.vocab_size()) + " rows of the embedding table in " +
                    (folder.transformer_dir / "model.safetensors").string());
  }
  impl->pooling.embedding_dimension = table.dimension();  // the table's rows are averaged
  impl->finish_load(folder, table.dimension());

  ModelInfo& info = impl->info;
  info.architecture = "static-embedding";
  info.hidden_size = static_cast<size_t>(table.dimension());
  info.vocab_size = static_cast<size_t>(table.vocab_size());
  info.pooling = "mean";
  info.parameters =
      size_t(table.vocab_size()) * size_t(table.dimension()) + impl->output_chain.parameters();
  info.weight_dtype = table.weight_dtype();
  info.precision = Precision::kF32;  // a table lookup: nothing to multiply in lower precision
  info.compute_dtype = std::string(to_string(info.precision));
  info.weight_bytes = table.weight_bytes();
  if (knobs.precision != Precision::kF32) {
    info.warnings.push_back("precision " + std::string(to_string(knobs.precision)) +
                            ": a StaticEmbedding model runs in f32");
  }
  return Embedder(std::move(impl));
}

Embedder Embedder::load(const std::string& model, const EmbedderOptions& options) {
  const ResolvedKnobs knobs = resolve_knobs(options);
  // oneDNN primitives created at load (weight packing, the row-blocking check) take the calling
  // thread's OpenMP thread count; make it the one encode() will run with.
  kernels::use_threads(knobs.threads);

  TextTokenizerOptions tokenizer_options;
  tokenizer_options.max_length = options.max_length;
  tokenizer_options.threads = knobs.threads;
  TextTokenizer tokenizer = TextTokenizer::load(model, tokenizer_options);
  const model::ModelFolder& folder = tokenizer.impl().folder;
  if (folder.input == model::InputModule::kStaticEmbedding) {
    return Impl::load_static_embedding(std::move(tokenizer), options, knobs);
  }

  const fs::path config_path = folder.transformer_dir / "config.json";
  const model::TransformerSpec config = model::load_transformer_spec(config_path);
  const fs::path weights_path = folder.transformer_dir / "model.safetensors";
  std::error_code ec;
  if (!fs::exists(weights_path, ec)) {
    throw Error(ErrorCode::kIo, weights_path.string() +
                                    ": no such file (embedrt reads safetensors weights; convert "
                                    "pytorch_model.bin with scripts/fetch_model.py)");
  }
  std::string dtype;
  auto impl = std::make_unique<Impl>(std::move(tokenizer));
  {
    // Layers are read one at a time while they are packed, and int8 and bf16 keep the word
    // embeddings in 16 bits, so the model is never resident in fp32 as a whole (a 0.6B model's
    // fp32 copy alone is 2.4 GB); the file stays mapped until the encoder is built, and after it
    // when an fp32 word table is read in place from it.
    const auto file = std::make_shared<const model::SafeTensorsFile>(weights_path);
    dtype = weights_dtype(*file);
    const model::EncoderOptions encoder_opts = encoder_options(knobs.precision);
    impl->encoder.emplace(config,
                          model::load_transformer_weights(
                              file, config, model::weight_load_options(encoder_opts.precision)),
                          encoder_opts);
  }
  if (static_cast<int64_t>(impl->tokenizer.vocab_size()) > config.vocab_size) {
    throw Error(ErrorCode::kInvalidModel,
                (folder.transformer_dir / "tokenizer.json").string() + ": vocabulary of " +
                    std::to_string(impl->tokenizer.vocab_size()) + " tokens exceeds " +
                    config_path.string() + " vocab_size " + std::to_string(config.vocab_size));
  }
  impl->options = options;
  impl->knobs = knobs;
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
  impl->finish_load(folder, impl->pooling.output_dimension());

  ModelInfo& info = impl->info;
  describe_encoder(config, *impl->encoder, info);
  info.pooling = describe_pooling(impl->pooling);
  info.parameters = count_parameters(config) + impl->output_chain.parameters();
  info.weight_dtype = dtype;
  runtime::ModelShape shape = model_shape(info);
  shape.weight_bytes = 0;  // estimate every precision, not the loaded one's measured bytes
  shape.word_embeddings_16bit = dtype == "F16" || dtype == "BF16";
  info.weight_bytes_fp32 = runtime::estimate_weight_bytes(shape, Precision::kF32);
  info.weight_bytes_bf16 = runtime::estimate_weight_bytes(shape, Precision::kBF16);
  info.weight_bytes_int8 = runtime::estimate_weight_bytes(shape, Precision::kInt8);
  return Embedder(std::move(impl));
}

std::vector<PreparedText> Embedder::prepare(std::span<const std::string> texts,
                                            const EncodeOptions& options) const {
  return impl_->prepare(texts, options, /*parallel=*/true);
}

std::vector<PreparedText> Embedder::prepare_token_ids(std::span<const std::vector<int32_t>> inputs,
                                                      const EncodeOptions& options) const {
  const Impl& impl = *impl_;
  const bool normalize_rows = options.normalize.value_or(impl.normalize);
  const size_t dimensions = impl.dimensions_for(options);
  const auto vocab = static_cast<int64_t>(impl.info.vocab_size);
  const size_t limit = impl.info.max_length;
  std::vector<PreparedText> items(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<int32_t>& ids = inputs[i];
    const size_t index = options.first_index + i;
    if (ids.empty()) {
      throw Error(ErrorCode::kInvalidArgument, "input " + std::to_string(index) + " has no tokens");
    }
    for (size_t t = 0; t < ids.size(); ++t) {
      if (ids[t] < 0 || ids[t] >= vocab) {
        throw Error(ErrorCode::kInvalidArgument,
                    "input " + std::to_string(index) + ": token id " + std::to_string(ids[t]) +
                        " at position " + std::to_string(t) + " is outside the vocabulary [0, " +
                        std::to_string(vocab) + ")");
      }
    }
    PreparedText& item = items[i];
    item.normalize = normalize_rows;
    item.dimensions = dimensions;
    const size_t kept = limit > 0 ? std::min(limit, ids.size()) : ids.size();
    if (options.truncation_side == TruncationSide::kLeft) {
      item.encoding.ids.assign(ids.end() - static_cast<std::ptrdiff_t>(kept), ids.end());
    } else {
      item.encoding.ids.assign(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(kept));
    }
    item.encoding.truncated_tokens = static_cast<uint32_t>(ids.size() - kept);
    item.tokens = kept;
    impl.check_overflow(item, i, options);
    if (impl.cache) {
      item.cache_key = cache_key('I', options.truncation_side, normalize_rows, {},
                                 std::string_view(reinterpret_cast<const char*>(ids.data()),
                                                  ids.size() * sizeof(int32_t)));
      if (auto hit = impl.cache->find(item.cache_key)) {
        item.embedding = std::move(hit->values);
        truncate_embedding(item);
        item.from_cache = true;
        item.encoding.ids.clear();
      }
    }
  }
  return items;
}

void Embedder::embed_batch(std::span<PreparedText* const> items, StageTimes* times,
                           const Checkpoint& checkpoint) const {
  const Impl& impl = *impl_;
  std::vector<PreparedText*> todo;
  todo.reserve(items.size());
  for (PreparedText* item : items) {
    if (!item->from_cache) todo.push_back(item);
  }
  if (todo.empty()) return;
  kernels::use_threads(impl.knobs.threads);

  const auto t0 = Clock::now();
  std::vector<int32_t> ids, type_ids, offsets{0};
  size_t total = 0;
  for (const PreparedText* item : todo) total += item->encoding.ids.size();
  ids.reserve(total);
  type_ids.reserve(total);
  offsets.reserve(todo.size() + 1);
  bool any_type_ids = false;
  for (const PreparedText* item : todo) any_type_ids |= !item->encoding.type_ids.empty();
  for (const PreparedText* item : todo) {
    const Encoding& e = item->encoding;
    ids.insert(ids.end(), e.ids.begin(), e.ids.end());
    if (any_type_ids) {
      if (e.type_ids.size() == e.ids.size()) {
        type_ids.insert(type_ids.end(), e.type_ids.begin(), e.type_ids.end());
      } else {
        type_ids.resize(ids.size(), 0);
      }
    }
    offsets.push_back(static_cast<int32_t>(ids.size()));
  }

  const auto t1 = Clock::now();
  const WorkspacePool::Lease workspace = impl.workspaces.acquire();
  InferenceOpTimes ops;
  const TimedCheckpoint timed_checkpoint(checkpoint, impl.knobs.threads);
  std::span<const float> hidden;
  if (impl.encoder) {  // a StaticEmbedding model has no token states: it averages table rows
    hidden = impl.encoder->forward({ids, type_ids, offsets}, *workspace, impl.knobs.deterministic,
                                   times ? &ops : nullptr, timed_checkpoint.callback());
  }

  const auto t2 = Clock::now();
  const auto hidden_size = static_cast<int64_t>(impl.info.hidden_size);
  const auto pooled_size = static_cast<size_t>(impl.output_chain.input_dimension());
  std::vector<float> pooled(todo.size() * pooled_size);
  if (impl.static_embedding) {
    impl.static_embedding->embed(ids, offsets, pooled.data());
  } else {
    for (size_t k = 0; k < todo.size(); ++k) {
      const int32_t begin = offsets[k], length = offsets[k + 1] - offsets[k];
      const int32_t local_offsets[2] = {0, length};
      model::pool(
          impl.pooling, hidden.subspan(size_t(begin) * hidden_size, size_t(length) * hidden_size),
          hidden_size, local_offsets, todo[k]->prompt_length, pooled.data() + k * pooled_size);
    }
  }
  // The modules after pooling (Dense, LayerNorm, ...), then the final Normalize below; the
  // Matryoshka truncation comes after the cache, which keeps full vectors.
  const size_t dimension = impl.info.model_dimension;
  std::vector<float> vectors(todo.size() * dimension);
  impl.output_chain.forward(pooled.data(), static_cast<int64_t>(todo.size()), vectors.data());
  for (size_t k = 0; k < todo.size(); ++k) {
    todo[k]->embedding.assign(vectors.begin() + static_cast<std::ptrdiff_t>(k * dimension),
                              vectors.begin() + static_cast<std::ptrdiff_t>((k + 1) * dimension));
  }

  const auto t3 = Clock::now();
  for (PreparedText* item : todo) {
    if (item->normalize)
      model::l2_normalize(item->embedding.data(), 1, static_cast<int64_t>(dimension));
  }
  const auto t4 = Clock::now();

  if (impl.cache) {
    for (const PreparedText* item : todo) {
      impl.cache->insert(item->cache_key,
                         {item->embedding, static_cast<uint32_t>(item->tokens),
                          item->encoding.truncated_tokens, item->encoding.replaced_invalid_utf8});
    }
  }
  for (PreparedText* item : todo) truncate_embedding(*item);
  if (times) {
    times->tensor_conversion_ms += elapsed_ms(t0, t1);
    times->model_inference_ms += elapsed_ms(t1, t2) - timed_checkpoint.paused_ms();
    times->pooling_ms += elapsed_ms(t2, t3);
    times->normalization_ms += elapsed_ms(t3, t4);
    times->ops += ops;
  }
}

Embeddings Embedder::encode(std::span<const std::string> texts,
                            const EncodeOptions& encode_options) const {
  const Impl& impl = *impl_;
  const auto start = Clock::now();
  kernels::use_threads(impl.knobs.threads);

  Embeddings result;
  result.rows = texts.size();
  result.dimension = impl.dimensions_for(encode_options);
  result.values.resize(result.rows * result.dimension);

  StageTimes stages;
  size_t batches = 0, cache_hits = 0;
  double overlapped_tokenization_ms = 0;
  std::vector<std::string> tuner_decisions;
  const auto prepare_step = [&](size_t begin, bool parallel) {
    EncodeOptions step_options = encode_options;
    step_options.first_index = encode_options.first_index + begin;
    const size_t count = std::min(kTextsPerStep, texts.size() - begin);
    return impl.prepare(texts.subspan(begin, count), step_options, parallel);
  };

  auto t = Clock::now();
  std::vector<PreparedText> items =
      texts.empty() ? std::vector<PreparedText>{} : prepare_step(0, true);
  stages.tokenization_ms += elapsed_ms(t);

  const size_t batch_size =
      encode_options.batch_size > 0 ? encode_options.batch_size : impl.knobs.batch_size;
  std::vector<size_t> lengths;
  std::vector<PreparedText*> batch;
  for (size_t step_begin = 0; step_begin < texts.size(); step_begin += kTextsPerStep) {
    // The next step is tokenized on one other thread while this one runs through the model.
    const size_t next_begin = step_begin + kTextsPerStep;
    std::future<std::pair<std::vector<PreparedText>, double>> next;
    if (next_begin < texts.size()) {
      next = std::async(std::launch::async, [&, next_begin] {
        const auto started = Clock::now();
        auto prepared = prepare_step(next_begin, false);
        return std::make_pair(std::move(prepared), elapsed_ms(started));
      });
    }

    lengths.resize(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      const PreparedText& item = items[i];
      lengths[i] = item.from_cache ? 0 : item.tokens;
      result.total_tokens += item.tokens;
      result.replaced_invalid_utf8 += item.encoding.replaced_invalid_utf8;
      if (item.encoding.truncated_tokens > 0) ++result.truncated_texts;
      if (item.from_cache) ++cache_hits;
    }
    // Sorting by length keeps batches homogeneous, so attention work and buffer sizes follow the
    // texts' real lengths; with deterministic on, results do not depend on batch composition.
    const std::vector<size_t> order = runtime::order_by_length(lengths);
    std::vector<size_t> sorted_lengths(order.size());
    for (size_t k = 0; k < order.size(); ++k) sorted_lengths[k] = lengths[order[k]];
    // Batches are cut one at a time so that an adaptive token budget applies from the next batch.
    for (size_t begin = 0; begin < order.size();) {
      const runtime::BatchLimits limits{
          batch_size, impl.tuner ? impl.tuner->token_budget() : impl.knobs.max_batch_tokens};
      const runtime::BatchRange range = runtime::next_batch(sorted_lengths, begin, limits);
      begin = range.end;
      batch.clear();
      for (size_t k = range.begin; k < range.end; ++k) {
        if (!items[order[k]].from_cache) batch.push_back(&items[order[k]]);
      }
      if (batch.empty()) continue;
      const auto batch_start = Clock::now();
      embed_batch(batch, &stages);
      ++batches;
      if (impl.tuner) {
        if (auto decision =
                impl.tuner->observe(range.tokens, batch.size(), elapsed_ms(batch_start))) {
          tuner_decisions.push_back(std::move(*decision));
        }
      }
    }
    for (size_t i = 0; i < items.size(); ++i) {
      std::copy_n(items[i].embedding.data(), result.dimension,
                  result.values.data() + (step_begin + i) * result.dimension);
    }

    if (next.valid()) {
      t = Clock::now();
      auto [prepared, background_ms] = next.get();
      const double waited_ms = elapsed_ms(t);
      stages.tokenization_ms += waited_ms;
      overlapped_tokenization_ms += std::max(0.0, background_ms - waited_ms);
      items = std::move(prepared);
    }
  }

  if (encode_options.profile) {
    EncodeProfile profile;
    profile.stages = stages;
    profile.total_ms = elapsed_ms(start);
    profile.texts = texts.size();
    profile.tokens = result.total_tokens;
    profile.batches = batches;
    profile.cache_hits = cache_hits;
    const double seconds = profile.total_ms / 1000.0;
    profile.tokens_per_second = seconds > 0 ? double(result.total_tokens) / seconds : 0;
    profile.embeddings_per_second = seconds > 0 ? double(texts.size()) / seconds : 0;
    profile.memory_peak_mb = double(process_peak_rss_bytes()) / kBytesPerMb;
    profile.buffer_peak_mb = double(impl.workspaces.peak_bytes()) / kBytesPerMb;
    profile.overlapped_tokenization_ms = overlapped_tokenization_ms;
    profile.precision = impl.info.compute_dtype;
    profile.tuner_decisions = std::move(tuner_decisions);
    result.profile = std::move(profile);
  }
  return result;
}

CacheStats Embedder::cache_stats() const {
  if (!impl_->cache) return {};
  const auto s = impl_->cache->stats();
  return {s.hits, s.misses, s.entries, s.bytes, s.capacity_bytes};
}

size_t Embedder::buffer_peak_bytes() const { return impl_->workspaces.peak_bytes(); }

const ModelInfo& Embedder::info() const noexcept { return impl_->info; }
const TextTokenizer& Embedder::tokenizer() const noexcept { return impl_->tokenizer; }

Embedder::Embedder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Embedder::Embedder(Embedder&&) noexcept = default;
Embedder& Embedder::operator=(Embedder&&) noexcept = default;
Embedder::~Embedder() = default;

}  // namespace embedrt
