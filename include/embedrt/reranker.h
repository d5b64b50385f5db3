// Cross-encoder reranking: scores (query, document) pairs with a sequence-classification model,
// exactly as sentence-transformers' CrossEncoder.predict does.
//
//   auto reranker = embedrt::Reranker::load("cross-encoder/ms-marco-MiniLM-L-6-v2");
//   auto ranked = reranker.rank("what is a cat?", documents);  // best first
//
// Loads a plain Hugging Face <Family>ForSequenceClassification folder (config.json
// `architectures`, `id2label`) or a sentence-transformers CrossEncoder folder
// (config_sentence_transformers.json with model_type CrossEncoder and activation_fn). Thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "embedrt/embedder.h"

namespace embedrt {

// The function CrossEncoder applies to the logits.
enum class ScoreActivation { kIdentity, kSigmoid, kTanh, kSoftmax };
std::string_view to_string(ScoreActivation activation) noexcept;

struct RerankerInfo {
  ModelInfo model;  // dimension is the number of labels
  std::vector<std::string> labels;
  ScoreActivation activation = ScoreActivation::kSigmoid;
  bool token_type_ids = false;  // whether the tokenizer's type ids reach the model
};

struct RankedDocument {
  size_t index = 0;  // position in the documents given
  float score = 0;
};

class Reranker {
 public:
  // `model` as Embedder::load takes it. Of the options, optimize, threads, precision, max_length,
  // batch_size and max_batch_tokens apply; pooling, normalize and the cache do not.
  static Reranker load(const std::string& model, const EmbedderOptions& options = {});

  // Scores [pairs.size(), labels], row-major in input order: the model's activation applied
  // (CrossEncoder's default: sigmoid for one label, none for several) or, with `raw`, the logits.
  // Pairs longer than the maximum length are truncated as CrossEncoder truncates them
  // (longest_first). A pair's scores do not depend on the other pairs.
  std::vector<float> predict(std::span<const std::pair<std::string, std::string>> pairs,
                             bool raw = false) const;

  // The documents sorted by score, best first (ties keep input order), at most top_k of them
  // (0: all). Needs a one-label model; throws kInvalidArgument otherwise.
  std::vector<RankedDocument> rank(std::string_view query, std::span<const std::string> documents,
                                   size_t top_k = 0, bool raw = false) const;

  // The two halves of predict(), for callers that merge pairs from several requests into one
  // model batch (a server's continuous batching). prepare() tokenizes as predict() does (truncating
  // longest_first; encoding.truncated_tokens says how much was cut); score_batch() runs the model
  // on the items as one batch and sets each item's `embedding` to its logits, one per label,
  // before any activation (see activate()). A pair's logits do not depend on the batch.
  std::vector<PreparedText> prepare(
      std::span<const std::pair<std::string, std::string>> pairs) const;
  // Single texts (a classifier's plain input): tokenized as one sequence.
  std::vector<PreparedText> prepare(std::span<const std::string> texts) const;
  void score_batch(std::span<PreparedText* const> items, StageTimes* times = nullptr,
                   const Embedder::Checkpoint& checkpoint = {}) const;
  // Applies the model's activation (info().activation) in place to one input's logits.
  void activate(std::span<float> logits) const;

  const RerankerInfo& info() const noexcept;

  Reranker(Reranker&&) noexcept;
  Reranker& operator=(Reranker&&) noexcept;
  ~Reranker();

 private:
  struct Impl;
  explicit Reranker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace embedrt
