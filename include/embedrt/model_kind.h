// What a model folder holds, read from its files without loading weights: an embedder
// (sentence-transformers SentenceTransformer), a cross-encoder with one label (a reranker) or with
// several (a classifier), or a SPLADE SparseEncoder. A server uses it to pick the class to load.
//
//   switch (embedrt::detect_model_kind(path)) { case embedrt::ModelKind::kReranker: ... }
#pragma once

#include <string>
#include <string_view>

namespace embedrt {

enum class ModelKind {
  kEmbedding,   // Embedder
  kReranker,    // Reranker, one label
  kClassifier,  // Reranker, several labels (use predict)
  kSparse,      // SparseEncoder
};
// "embedding", "reranker", "classifier", "sparse".
std::string_view to_string(ModelKind kind) noexcept;

// `model` as Embedder::load takes it. Sparse: modules.json lists MLMTransformer or SpladePooling,
// or config_sentence_transformers.json says model_type SparseEncoder. Cross-encoder:
// config_sentence_transformers.json says model_type CrossEncoder, or config.json's architectures
// name a *ForSequenceClassification class and modules.json (if any) lists nothing after the
// Transformer (no Pooling: not an embedding chain); config.json's labels (id2label / num_labels)
// then tell reranker from classifier. Anything else is an embedder. Throws kInvalidModel naming the
// file for a config.json or label field that cannot be read.
ModelKind detect_model_kind(const std::string& model);

}  // namespace embedrt
