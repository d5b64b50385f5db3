#include "embedrt/sparse_encoder.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <numeric>

#include "api/encoder_runs.h"
#include "api/optimize_modes.h"
#include "embedrt/error.h"
#include "embedrt/text_tokenizer.h"
#include "kernels/cpu/threads.h"
#include "model/json_file.h"
#include "model/mlm_head.h"
#include "model/model_folder.h"
#include "model/safetensors.h"
#include "model/transformer_encoder.h"
#include "model/transformer_weights.h"
#include "runtime/batch_planner.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8_repair.h"

namespace embedrt {
namespace fs = std::filesystem;

namespace {

struct SparseFolder {
  fs::path transformer_dir, pooling_dir;
  size_t max_seq_length = 0;
};

// modules.json of a SparseEncoder: MLMTransformer (sentence-transformers 5) or a fill-mask
// Transformer (6), then SpladePooling.
SparseFolder read_sparse_folder(const fs::path& dir) {
  const fs::path file = dir / "modules.json";
  const auto modules = model::load_optional_json_file(file);
  if (!modules) {
    throw Error(ErrorCode::kInvalidModel, file.string() +
                                              ": not found (a SparseEncoder folder lists "
                                              "MLMTransformer and SpladePooling there)");
  }
  SparseFolder folder;
  bool mlm = false, splade = false;
  if (!modules->is_array())
    throw Error(ErrorCode::kInvalidModel, file.string() + ": expected an array");
  for (const auto& m : *modules) {
    if (!m.is_object() || !m.contains("type") || !m["type"].is_string()) {
      throw Error(ErrorCode::kInvalidModel, file.string() + ": expected modules with a type");
    }
    splade = splade || model::st_class_name(m["type"].get<std::string>()) == "SpladePooling";
  }
  if (!splade) {
    throw Error(ErrorCode::kUnsupported,
                file.string() + ": no SpladePooling module: this folder is not a sparse encoder");
  }
  for (const auto& m : *modules) {
    const std::string type = m["type"];
    const std::string path =
        m.contains("path") && m["path"].is_string() ? m["path"].get<std::string>() : "";
    if (model::st_class_name(type) == "MLMTransformer") {
      folder.transformer_dir = dir / path;
      mlm = true;
    } else if (model::st_class_name(type) == "Transformer") {
      // sentence-transformers 6 saves the MLM as a plain Transformer whose
      // sentence_bert_config.json says transformer_task "fill-mask".
      const fs::path config_file = dir / path / "sentence_bert_config.json";
      const auto config = model::load_optional_json_file(config_file);
      const bool fill_mask = config && config->is_object() &&
                             config->contains("transformer_task") &&
                             (*config)["transformer_task"] == "fill-mask";
      if (!fill_mask) {
        throw Error(ErrorCode::kUnsupported,
                    config_file.string() +
                        ": transformer_task: a sparse encoder's Transformer must be \"fill-mask\"");
      }
      folder.transformer_dir = dir / path;
      mlm = true;
    } else if (model::st_class_name(type) == "SpladePooling") {
      folder.pooling_dir = dir / path;
    } else {
      throw Error(ErrorCode::kUnsupported, file.string() + ": module type '" + type +
                                               "' is not supported in a sparse encoder "
                                               "(expected MLMTransformer, SpladePooling)");
    }
  }
  if (!mlm || !splade) {
    throw Error(ErrorCode::kInvalidModel,
                file.string() + ": expected an MLMTransformer and a SpladePooling module");
  }
  // max_seq_length as sentence-transformers reads it: sentence_bert_config.json, else the
  // tokenizer's model_max_length (sentence-transformers 6 writes only the latter).
  for (const auto& [name, field] : {std::pair{"sentence_bert_config.json", "max_seq_length"},
                                    std::pair{"tokenizer_config.json", "model_max_length"}}) {
    const auto config = model::load_optional_json_file(folder.transformer_dir / name);
    if (!config || !config->is_object() || !config->contains(field)) continue;
    const auto& value = (*config)[field];
    // transformers writes a huge sentinel when the tokenizer has no limit.
    if (value.is_number_integer() && value.get<int64_t>() > 0 && value.get<int64_t>() < 1000000) {
      folder.max_seq_length = value.get<size_t>();
      break;
    }
  }
  return folder;
}

}  // namespace

struct SparseEncoder::Impl {
  tokenizer::Tokenizer tokenizer;
  model::TransformerEncoder encoder;
  model::MlmHead head;
  model::SpladeConfig splade;
  ResolvedKnobs knobs;
  size_t max_length = 0;
  ModelInfo info;
  WorkspacePool workspaces;

  Impl(tokenizer::Tokenizer t, model::TransformerEncoder e, model::MlmHead h)
      : tokenizer(std::move(t)), encoder(std::move(e)), head(std::move(h)) {}
};

SparseEncoder SparseEncoder::load(const std::string& model, const EmbedderOptions& options) {
  const ResolvedKnobs knobs = resolve_knobs(options);
  kernels::use_threads(knobs.threads);
  const fs::path dir = resolve_model_dir(model);
  const SparseFolder folder = read_sparse_folder(dir);
  const fs::path config_path = folder.transformer_dir / "config.json";
  const model::TransformerSpec spec = model::load_transformer_spec(config_path);
  const model::SpladeConfig splade =
      model::parse_splade_config(model::read_text_file(folder.pooling_dir / "config.json"),
                                 (folder.pooling_dir / "config.json").string());
  const model::EncoderOptions encoder_opts = encoder_options(knobs.precision);
  std::string ignored;
  const kernels::Precision precision = kernels::resolve_precision(encoder_opts.precision, &ignored);
  std::optional<model::MlmHead> head;
  model::TransformerWeights weights;
  {
    const model::SafeTensorsFile file(folder.transformer_dir / "model.safetensors");
    const std::string prefix = model::detect_encoder_prefix(file, spec);
    weights = model::load_transformer_weights(file, spec);
    head.emplace(spec, file, prefix, weights.word_embeddings, precision);
  }
  auto tok = tokenizer::Tokenizer::from_file(folder.transformer_dir / "tokenizer.json");
  // SparseEncoder truncates to max_seq_length (sentence_bert_config.json), else the position limit.
  size_t max_length = options.max_length > 0 ? options.max_length : folder.max_seq_length;
  const size_t positions = size_t(std::max<int64_t>(0, spec.max_sequence_length()));
  if (max_length == 0 || max_length > positions) {
    if (options.max_length > positions) {
      throw Error(ErrorCode::kInvalidArgument, "max length " + std::to_string(max_length) +
                                                   " exceeds the model's limit of " +
                                                   std::to_string(positions) + " tokens");
    }
    max_length = positions;
  }
  tok.set_truncation({max_length, tokenizer::TruncationSide::kRight});
  auto impl = std::make_unique<Impl>(
      std::move(tok), model::TransformerEncoder(spec, std::move(weights), encoder_opts),
      std::move(*head));
  impl->splade = splade;
  impl->knobs = knobs;
  impl->max_length = max_length;
  ModelInfo& m = impl->info;
  m.dir = dir;
  describe_encoder(spec, impl->encoder, m);
  m.dimension = m.model_dimension = size_t(impl->head.vocab_size());
  m.max_length = max_length;
  m.pooling = splade.strategy == model::SpladeStrategy::kSum ? "splade-sum" : "splade-max";
  m.optimize = options.optimize;
  m.threads = knobs.threads;
  m.batch_size = knobs.batch_size;
  m.max_batch_tokens = knobs.max_batch_tokens;
  m.deterministic = true;
  return SparseEncoder(std::move(impl));
}

std::vector<SparseVector> SparseEncoder::encode(std::span<const std::string> texts, size_t top_k,
                                                const std::string& prompt) const {
  const Impl& impl = *impl_;
  kernels::use_threads(impl.knobs.threads);
  std::vector<Encoding> encodings(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    encodings[i] = impl.tokenizer.encode(tokenizer::replace_invalid_utf8(prompt + texts[i]));
  }
  const runtime::LengthBatches plan =
      runtime::plan_by_length(encodings, {impl.knobs.batch_size, impl.knobs.max_batch_tokens});

  const int64_t vocab = impl.head.vocab_size();
  std::vector<SparseVector> out(texts.size());
  const WorkspacePool::Lease workspace = impl.workspaces.acquire();
  runtime::PackedInputs in;
  std::vector<float> dense;
  for (const runtime::BatchRange& batch : plan.batches) {
    runtime::pack_batch(encodings, plan, batch, /*with_type_ids=*/true, in);
    const auto hidden = impl.encoder.forward({in.ids, in.type_ids, in.offsets}, *workspace);
    dense.resize((batch.end - batch.begin) * vocab);
    impl.head.splade(hidden, in.offsets, impl.splade, dense.data());
    for (size_t k = batch.begin; k < batch.end; ++k) {
      const float* row = dense.data() + (k - batch.begin) * vocab;
      SparseVector& v = out[plan.order[k]];
      for (int64_t id = 0; id < vocab; ++id) {
        if (row[id] > 0) v.indices.push_back(int32_t(id));
      }
      if (top_k > 0 && v.indices.size() > top_k) {
        std::stable_sort(v.indices.begin(), v.indices.end(),
                         [&](int32_t a, int32_t b) { return row[a] > row[b]; });
        v.indices.resize(top_k);
        std::sort(v.indices.begin(), v.indices.end());
      }
      for (const int32_t id : v.indices) v.values.push_back(row[id]);
    }
  }
  return out;
}

std::vector<PreparedText> SparseEncoder::prepare(std::span<const std::string> texts,
                                                 const std::string& prompt) const {
  std::vector<PreparedText> items(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    items[i].encoding = impl_->tokenizer.encode(tokenizer::replace_invalid_utf8(prompt + texts[i]));
    items[i].tokens = items[i].encoding.size();
  }
  return items;
}

void SparseEncoder::encode_batch(std::span<PreparedText* const> items, StageTimes* times,
                                 const Embedder::Checkpoint& checkpoint) const {
  if (items.empty()) return;
  const Impl& impl = *impl_;
  kernels::use_threads(impl.knobs.threads);
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  std::vector<const Encoding*> encodings;
  encodings.reserve(items.size());
  for (const PreparedText* item : items) encodings.push_back(&item->encoding);
  runtime::PackedInputs in;
  runtime::pack_encodings(encodings, /*with_type_ids=*/true, in);
  const TimedCheckpoint timed_checkpoint(checkpoint, impl.knobs.threads);
  const auto t1 = Clock::now();
  const WorkspacePool::Lease workspace = impl.workspaces.acquire();
  const auto hidden = impl.encoder.forward({in.ids, in.type_ids, in.offsets}, *workspace, true,
                                           nullptr, timed_checkpoint.callback());
  const int64_t vocab = impl.head.vocab_size();
  std::vector<float> dense(items.size() * size_t(vocab));
  impl.head.splade(hidden, in.offsets, impl.splade, dense.data());
  const auto t2 = Clock::now();
  for (size_t k = 0; k < items.size(); ++k) {
    const float* row = dense.data() + k * size_t(vocab);
    PreparedText& item = *items[k];
    item.sparse_indices.clear();
    item.embedding.clear();
    for (int64_t id = 0; id < vocab; ++id) {
      if (row[id] > 0) {
        item.sparse_indices.push_back(int32_t(id));
        item.embedding.push_back(row[id]);
      }
    }
  }
  if (times) {
    times->tensor_conversion_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
    times->model_inference_ms +=
        std::chrono::duration<double, std::milli>(t2 - t1).count() - timed_checkpoint.paused_ms();
    times->pooling_ms += std::chrono::duration<double, std::milli>(Clock::now() - t2).count();
  }
}

const ModelInfo& SparseEncoder::info() const noexcept { return impl_->info; }
size_t SparseEncoder::vocab_size() const noexcept { return size_t(impl_->head.vocab_size()); }
size_t SparseEncoder::max_length() const noexcept { return impl_->max_length; }

SparseEncoder::SparseEncoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SparseEncoder::SparseEncoder(SparseEncoder&&) noexcept = default;
SparseEncoder& SparseEncoder::operator=(SparseEncoder&&) noexcept = default;
SparseEncoder::~SparseEncoder() = default;

}  // namespace embedrt
