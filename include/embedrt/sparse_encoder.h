// Sparse (SPLADE) embeddings: a masked-LM head on the encoder, then sentence-transformers'
// SpladePooling (log(1 + ReLU) of the vocabulary logits, max or sum over tokens), returned as the
// non-zero entries of a vocabulary-sized vector, as SparseEncoder.encode gives them.
//
//   auto splade = embedrt::SparseEncoder::load("naver/splade-cocondenser-ensembledistil");
//   auto vectors = splade.encode(texts);  // vectors[i].indices / .values, ascending indices
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "embedrt/embedder.h"

namespace embedrt {

struct SparseVector {
  std::vector<int32_t> indices;  // vocabulary ids, ascending
  std::vector<float> values;     // > 0
};

class SparseEncoder {
 public:
  // A sentence-transformers SparseEncoder folder (modules.json: MLMTransformer, SpladePooling).
  // Of the options, optimize, threads, precision, max_length, batch_size and max_batch_tokens
  // apply.
  static SparseEncoder load(const std::string& model, const EmbedderOptions& options = {});

  // One vector per text, in input order. top_k > 0 keeps the k largest values (ties: lower id).
  // `prompt` is prepended to every text.
  std::vector<SparseVector> encode(std::span<const std::string> texts, size_t top_k = 0,
                                   const std::string& prompt = {}) const;

  // The two halves of encode(), for callers that merge texts from several requests into one
  // model batch (a server's continuous batching). prepare() tokenizes (truncating to
  // max_length(); encoding.truncated_tokens says how much was cut); encode_batch() runs the model
  // on the items as one batch and sets each item's `sparse_indices` (ascending) and `embedding`
  // (their values), as encode() with top_k 0 gives them. Results do not depend on the batch.
  std::vector<PreparedText> prepare(std::span<const std::string> texts,
                                    const std::string& prompt = {}) const;
  void encode_batch(std::span<PreparedText* const> items, StageTimes* times = nullptr,
                    const Embedder::Checkpoint& checkpoint = {}) const;

  // dimension is vocab_size(); pooling names the SPLADE pooling ("splade-max" / "splade-sum").
  const ModelInfo& info() const noexcept;
  size_t vocab_size() const noexcept;  // the dense dimension of the vectors
  size_t max_length() const noexcept;

  SparseEncoder(SparseEncoder&&) noexcept;
  SparseEncoder& operator=(SparseEncoder&&) noexcept;
  ~SparseEncoder();

 private:
  struct Impl;
  explicit SparseEncoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace embedrt
