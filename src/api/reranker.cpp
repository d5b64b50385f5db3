#include "embedrt/reranker.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <mutex>

#include "api/encoder_runs.h"
#include "api/optimize_modes.h"
#include "api/text_tokenizer_impl.h"
#include "embedrt/error.h"
#include "kernels/cpu/threads.h"
#include "model/classifier_head.h"
#include "model/json_file.h"
#include "model/safetensors.h"
#include "model/transformer_encoder.h"
#include "model/transformer_weights.h"
#include "runtime/batch_planner.h"
#include "tokenizer/utf8_repair.h"

namespace embedrt {
namespace fs = std::filesystem;

std::string_view to_string(ScoreActivation activation) noexcept {
  switch (activation) {
    case ScoreActivation::kIdentity:
      return "identity";
    case ScoreActivation::kSigmoid:
      return "sigmoid";
    case ScoreActivation::kTanh:
      return "tanh";
    case ScoreActivation::kSoftmax:
      return "softmax";
  }
  return "identity";
}

namespace {

// CrossEncoder's activation: `activation_fn` from config_sentence_transformers.json (sentence-
// transformers 4 and later) or config.json's "sentence_transformers" block (earlier versions);
// without one, sigmoid for one label and identity otherwise.
ScoreActivation read_activation(const model::ModelFolder& folder, size_t labels) {
  std::optional<std::string> name;
  fs::path file;
  if (auto st = model::load_optional_json_file(folder.dir / "config_sentence_transformers.json")) {
    if (st->is_object() && st->contains("activation_fn") && !(*st)["activation_fn"].is_null()) {
      file = folder.dir / "config_sentence_transformers.json";
      if (!(*st)["activation_fn"].is_string()) {
        throw Error(ErrorCode::kInvalidModel, file.string() + ": activation_fn: expected a string");
      }
      name = (*st)["activation_fn"].get<std::string>();
    }
  }
  if (!name) {
    if (auto config = model::load_optional_json_file(folder.transformer_dir / "config.json")) {
      const auto block =
          config->is_object() ? config->find("sentence_transformers") : config->end();
      if (block != config->end() && block->is_object() && block->contains("activation_fn") &&
          (*block)["activation_fn"].is_string()) {
        file = folder.transformer_dir / "config.json";
        name = (*block)["activation_fn"].get<std::string>();
      }
    }
  }
  if (!name) return labels == 1 ? ScoreActivation::kSigmoid : ScoreActivation::kIdentity;
  const std::string cls =
      name->substr(name->rfind('.') == std::string::npos ? 0 : name->rfind('.') + 1);
  if (cls == "Identity") return ScoreActivation::kIdentity;
  if (cls == "Sigmoid") return ScoreActivation::kSigmoid;
  if (cls == "Tanh") return ScoreActivation::kTanh;
  if (cls == "Softmax") return ScoreActivation::kSoftmax;
  throw Error(ErrorCode::kUnsupported, file.string() + ": activation_fn: '" + *name +
                                           "' is not supported (expected Identity, Sigmoid, "
                                           "Tanh or Softmax from torch.nn)");
}

// Whether transformers passes token type ids to the model: the tokenizer's model_input_names, from
// tokenizer_config.json when it lists them, else from the tokenizer class (BERT-style tokenizers
// return them; the generic and RoBERTa-style ones do not).
bool reads_token_type_ids(const model::ModelFolder& folder) {
  const auto config =
      model::load_optional_json_file(folder.transformer_dir / "tokenizer_config.json");
  if (!config || !config->is_object()) return false;
  if (const auto names = config->find("model_input_names");
      names != config->end() && names->is_array()) {
    return std::find(names->begin(), names->end(), "token_type_ids") != names->end();
  }
  const auto cls = config->find("tokenizer_class");
  if (cls == config->end() || !cls->is_string()) return false;
  static constexpr std::string_view kWithTypes[] = {
      "BertTokenizer",       "BertTokenizerFast",    "ElectraTokenizer", "ElectraTokenizerFast",
      "DistilBertTokenizer", "MPNetTokenizer",       "FunnelTokenizer",  "LayoutLMTokenizer",
      "ConvBertTokenizer",   "ConvBertTokenizerFast"};
  const std::string name = cls->get<std::string>();
  // DistilBERT and MPNet tokenizers drop them in transformers; listed only to say so explicitly.
  if (name.rfind("DistilBert", 0) == 0 || name.rfind("MPNet", 0) == 0) return false;
  return std::find(std::begin(kWithTypes), std::end(kWithTypes), name) != std::end(kWithTypes);
}

void apply_activation(ScoreActivation activation, float* row, size_t labels) {
  switch (activation) {
    case ScoreActivation::kIdentity:
      return;
    case ScoreActivation::kSigmoid:
      for (size_t k = 0; k < labels; ++k) row[k] = float(1.0 / (1.0 + std::exp(-double(row[k]))));
      return;
    case ScoreActivation::kTanh:
      for (size_t k = 0; k < labels; ++k) row[k] = std::tanh(row[k]);
      return;
    case ScoreActivation::kSoftmax: {
      const double max = *std::max_element(row, row + labels);
      double sum = 0;
      for (size_t k = 0; k < labels; ++k) sum += std::exp(double(row[k]) - max);
      for (size_t k = 0; k < labels; ++k) row[k] = float(std::exp(double(row[k]) - max) / sum);
      return;
    }
  }
}

}  // namespace

struct Reranker::Impl {
  TextTokenizer tokenizer;
  model::TransformerEncoder encoder;
  model::ClassifierHead head;
  ResolvedKnobs knobs;
  RerankerInfo info;

  WorkspacePool workspaces;

  Impl(TextTokenizer t, model::TransformerEncoder e, model::ClassifierHead h)
      : tokenizer(std::move(t)), encoder(std::move(e)), head(std::move(h)) {}
};

Reranker Reranker::load(const std::string& model, const EmbedderOptions& options) {
  const ResolvedKnobs knobs = resolve_knobs(options);
  kernels::use_threads(knobs.threads);
  // CrossEncoder hands texts to the tokenizer as they are (no strip), truncating pairs to its
  // max_length: sentence_bert_config.json's max_seq_length, else the tokenizer's model_max_length.
  TextTokenizerOptions tokenizer_options;
  tokenizer_options.raw = true;
  tokenizer_options.threads = knobs.threads;
  const model::ModelFolder folder = model::read_model_folder(resolve_model_dir(model));
  const size_t positions = model_position_limit(folder);
  tokenizer_options.max_length =
      options.max_length > 0 ? options.max_length : model_sequence_limit(folder, positions);
  if (positions > 0 && tokenizer_options.max_length > positions) {
    throw Error(ErrorCode::kInvalidArgument,
                "max length " + std::to_string(tokenizer_options.max_length) +
                    " exceeds the model's limit of " + std::to_string(positions) +
                    " tokens (config.json max_position_embeddings)");
  }
  TextTokenizer tokenizer = TextTokenizer::load(folder.dir.string(), tokenizer_options);

  const fs::path config_path = folder.transformer_dir / "config.json";
  const std::string config_text = model::read_text_file(config_path);
  const model::TransformerSpec spec =
      model::parse_transformer_spec(config_text, config_path.string());
  const model::ClassifierHeadSpec head_spec =
      model::parse_classifier_head(config_text, config_path.string(), spec);
  const fs::path weights_path = folder.transformer_dir / "model.safetensors";
  std::optional<model::ClassifierHead> head;
  model::TransformerWeights weights;
  {
    // Shared: an fp32 word table is read in place from it, and the weights keep it mapped.
    const auto file = std::make_shared<const model::SafeTensorsFile>(weights_path);
    const std::string prefix = model::detect_encoder_prefix(*file, spec);
    head.emplace(head_spec, spec, *file, prefix);
    weights = model::load_transformer_weights(file, spec);
  }
  auto impl = std::make_unique<Impl>(
      std::move(tokenizer),
      model::TransformerEncoder(spec, std::move(weights), encoder_options(knobs.precision)),
      std::move(*head));
  impl->knobs = knobs;
  RerankerInfo& info = impl->info;
  info.labels = head_spec.labels;
  info.activation = read_activation(folder, head_spec.labels.size());
  info.token_type_ids = reads_token_type_ids(folder) && spec.type_vocab_size > 1;
  ModelInfo& m = info.model;
  m.dir = folder.dir;
  describe_encoder(spec, impl->encoder, m);
  m.dimension = head_spec.labels.size();
  m.max_length = impl->tokenizer.max_length();
  m.pooling = "classifier";
  m.optimize = options.optimize;
  m.threads = knobs.threads;
  m.batch_size = knobs.batch_size;
  m.max_batch_tokens = knobs.max_batch_tokens;
  m.deterministic = true;
  return Reranker(std::move(impl));
}

std::vector<float> Reranker::predict(std::span<const std::pair<std::string, std::string>> pairs,
                                     bool raw) const {
  const Impl& impl = *impl_;
  kernels::use_threads(impl.knobs.threads);
  const size_t labels = impl.info.labels.size();
  const tokenizer::Tokenizer& tok = impl.tokenizer.impl().tokenizer;
  std::vector<Encoding> encodings(pairs.size());
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 8) num_threads(impl.knobs.threads) if (pairs.size() > 8)
  for (size_t i = 0; i < pairs.size(); ++i) {
    try {
      const std::string a = tokenizer::replace_invalid_utf8(pairs[i].first, nullptr);
      const std::string b = tokenizer::replace_invalid_utf8(pairs[i].second, nullptr);
      encodings[i] = tok.encode_pair(a, b);
    } catch (...) {
#pragma omp critical(embedrt_reranker_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);

  const runtime::LengthBatches plan =
      runtime::plan_by_length(encodings, {impl.knobs.batch_size, impl.knobs.max_batch_tokens});
  const WorkspacePool::Lease workspace = impl.workspaces.acquire();
  std::vector<float> scores(pairs.size() * labels);
  runtime::PackedInputs in;
  std::vector<float> logits;
  for (const runtime::BatchRange& batch : plan.batches) {
    runtime::pack_batch(encodings, plan, batch, impl.info.token_type_ids, in);
    const auto hidden = impl.encoder.forward({in.ids, in.type_ids, in.offsets}, *workspace);
    logits.resize((batch.end - batch.begin) * labels);
    impl.head.forward(hidden, in.offsets, logits.data());
    for (size_t k = batch.begin; k < batch.end; ++k) {
      float* row = scores.data() + plan.order[k] * labels;
      std::copy_n(logits.data() + (k - batch.begin) * labels, labels, row);
      if (!raw) apply_activation(impl.info.activation, row, labels);
    }
  }
  return scores;
}

std::vector<RankedDocument> Reranker::rank(std::string_view query,
                                           std::span<const std::string> documents, size_t top_k,
                                           bool raw) const {
  if (impl_->info.labels.size() != 1) {
    throw Error(ErrorCode::kInvalidArgument, "rank needs a one-label model; this one has " +
                                                 std::to_string(impl_->info.labels.size()) +
                                                 " labels (use predict)");
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(documents.size());
  for (const std::string& d : documents) pairs.emplace_back(std::string(query), d);
  const std::vector<float> scores = predict(pairs, raw);
  std::vector<RankedDocument> ranked(documents.size());
  for (size_t i = 0; i < ranked.size(); ++i) ranked[i] = {i, scores[i]};
  std::stable_sort(
      ranked.begin(), ranked.end(),
      [](const RankedDocument& a, const RankedDocument& b) { return a.score > b.score; });
  if (top_k > 0 && ranked.size() > top_k) ranked.resize(top_k);
  return ranked;
}

namespace {

// Tokenizes on the calling thread (a server's request thread must not start a thread team next
// to the model's). Invalid UTF-8 is replaced as predict() replaces it.
template <typename Encode>
std::vector<PreparedText> prepare_items(size_t count, Encode encode) {
  std::vector<PreparedText> items(count);
  for (size_t i = 0; i < count; ++i) {
    items[i].encoding = encode(i);
    items[i].tokens = items[i].encoding.size();
  }
  return items;
}

}  // namespace

std::vector<PreparedText> Reranker::prepare(
    std::span<const std::pair<std::string, std::string>> pairs) const {
  const tokenizer::Tokenizer& tok = impl_->tokenizer.impl().tokenizer;
  return prepare_items(pairs.size(), [&](size_t i) {
    return tok.encode_pair(tokenizer::replace_invalid_utf8(pairs[i].first, nullptr),
                           tokenizer::replace_invalid_utf8(pairs[i].second, nullptr));
  });
}

std::vector<PreparedText> Reranker::prepare(std::span<const std::string> texts) const {
  const tokenizer::Tokenizer& tok = impl_->tokenizer.impl().tokenizer;
  return prepare_items(texts.size(), [&](size_t i) {
    return tok.encode(tokenizer::replace_invalid_utf8(texts[i], nullptr));
  });
}

void Reranker::score_batch(std::span<PreparedText* const> items, StageTimes* times,
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
  runtime::pack_encodings(encodings, impl.info.token_type_ids, in);
  const WorkspacePool::Lease workspace = impl.workspaces.acquire();
  const TimedCheckpoint timed_checkpoint(checkpoint, impl.knobs.threads);
  const auto t1 = Clock::now();
  const size_t labels = impl.info.labels.size();
  std::vector<float> logits(items.size() * labels);
  const auto hidden = impl.encoder.forward({in.ids, in.type_ids, in.offsets}, *workspace, true,
                                           nullptr, timed_checkpoint.callback());
  impl.head.forward(hidden, in.offsets, logits.data());
  for (size_t k = 0; k < items.size(); ++k) {
    items[k]->embedding.assign(logits.begin() + std::ptrdiff_t(k * labels),
                               logits.begin() + std::ptrdiff_t((k + 1) * labels));
  }
  if (times) {
    const auto t2 = Clock::now();
    times->tensor_conversion_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
    times->model_inference_ms +=
        std::chrono::duration<double, std::milli>(t2 - t1).count() - timed_checkpoint.paused_ms();
  }
}

void Reranker::activate(std::span<float> logits) const {
  apply_activation(impl_->info.activation, logits.data(), logits.size());
}

const RerankerInfo& Reranker::info() const noexcept { return impl_->info; }

Reranker::Reranker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reranker::Reranker(Reranker&&) noexcept = default;
Reranker& Reranker::operator=(Reranker&&) noexcept = default;
Reranker::~Reranker() = default;

}  // namespace embedrt
