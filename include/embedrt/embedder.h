// The embedding engine: a sentence-transformers model folder in, one vector per text out.
//
//   auto embedder = embedrt::Embedder::load("all-MiniLM-L6-v2");
//   embedrt::Embeddings out = embedder.encode(texts);   // out.row(i) is texts[i]'s vector
//
// An Embedder is immutable after load (its embedding cache and statistics aside, which are
// internally synchronized); encode(), prepare() and embed_batch() may be called from several
// threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "embedrt/profile.h"
#include "embedrt/text_tokenizer.h"

namespace embedrt {

enum class OverflowPolicy {
  kTruncate,  // cut texts to the maximum length, as sentence-transformers does
  kError,     // fail with kInputTooLong naming the text's index
};

// What the matmuls compute in. LayerNorm, softmax, pooling and accumulation stay fp32.
enum class Precision {
  kF32,
  kBF16,  // bf16 weights and activations (needs AVX512-BF16 or AMX; else falls back to fp32)
  kInt8,  // int8 weights per output channel, int8 activations per token, int32 accumulation
};
std::string_view to_string(Precision precision) noexcept;
// "fp32"/"f32", "bf16", "int8"; throws kInvalidArgument naming the value otherwise.
Precision parse_precision(std::string_view name);

// A named set of knobs (docs/architecture.md lists them); explicit options override it.
enum class OptimizeMode { kBalanced, kThroughput, kLatency, kMemory };
std::string_view to_string(OptimizeMode mode) noexcept;
// "balanced", "throughput", "latency", "memory"; throws kInvalidArgument otherwise.
OptimizeMode parse_optimize_mode(std::string_view name);

struct EmbedderOptions {
  OptimizeMode optimize = OptimizeMode::kBalanced;
  int threads = 0;  // 0 = all cores
  // Tokens per text including special tokens; 0 = the model's limit (max_seq_length). May be set
  // above it, up to config.json's max_position_embeddings, as sentence-transformers allows.
  size_t max_length = 0;
  // Texts are sorted by token count and cut into model batches holding at most batch_size texts
  // and at most max_batch_tokens tokens (a single longer text still gets a batch of its own).
  // 0 = the optimize mode's value.
  size_t batch_size = 0;
  size_t max_batch_tokens = 0;
  std::optional<Precision> precision;  // empty = the optimize mode's precision
  std::optional<size_t> cache_bytes;   // embedding cache bound; 0 = off; empty = the mode's
  std::string pooling;                 // empty = 1_Pooling/config.json; else cls, mean, max,
                                       // mean_sqrt_len_tokens, weightedmean or lasttoken
  std::optional<bool> normalize;       // empty = as the model's module chain says
  // Matryoshka truncation: keep the first `dimensions` values of every embedding, then
  // L2-normalize them again when the embedding is normalized (as sentence-transformers'
  // encode(..., truncate_dim=N, normalize_embeddings=True)). Empty = truncate_dim from
  // config_sentence_transformers.json, else the model's full dimension. Must be 1 to the model's
  // dimension (kInvalidArgument otherwise).
  std::optional<size_t> dimensions;
  OverflowPolicy on_overflow = OverflowPolicy::kTruncate;
  // true: a text's embedding is bit-identical whatever batch it is in, its position, the batch
  // size, the input order and the thread count. false: about 20% more throughput on ~128-token
  // texts (measured on a 2-core AMD EPYC), with results that can differ in the last bits between
  // batch compositions. Empty = the optimize mode's choice (true except for throughput).
  std::optional<bool> deterministic;
  // An online controller resizes the token budget between batches from the latencies it observes:
  // towards target_latency_ms per batch when set, else towards the best throughput. Empty = the
  // optimize mode's choice (on for throughput).
  std::optional<bool> adaptive_batching;
  double target_latency_ms = 0;
};

struct EncodeOptions {
  std::string prompt;       // prepended to every text
  std::string prompt_name;  // a prompt from config_sentence_transformers.json; empty = default
  size_t first_index = 0;   // index of texts[0] in the caller's numbering, for error messages
  std::optional<bool> normalize;              // overrides the Embedder's for this call
  std::optional<size_t> dimensions;           // overrides the Embedder's for this call
  std::optional<OverflowPolicy> on_overflow;  // overrides the Embedder's for this call
  TruncationSide truncation_side = TruncationSide::kRight;
  // Most texts per model batch in this call (sentence-transformers' encode(batch_size=...));
  // 0 = the Embedder's. Results do not depend on it in deterministic mode.
  size_t batch_size = 0;
  bool profile = false;  // fill Embeddings::profile (stage timers cost well under 1%)
};

struct Embeddings {
  size_t rows = 0;
  size_t dimension = 0;
  std::vector<float> values;             // row-major [rows, dimension]
  size_t total_tokens = 0;               // tokens fed to the model, special tokens included
  size_t truncated_texts = 0;            // texts cut to the maximum length
  size_t replaced_invalid_utf8 = 0;      // invalid UTF-8 sequences replaced by U+FFFD
  std::optional<EncodeProfile> profile;  // when EncodeOptions::profile

  std::span<const float> row(size_t i) const { return {values.data() + i * dimension, dimension}; }
};

// One input made ready for the model by prepare(): tokenized, checked against the length limit
// and looked up in the embedding cache. embed_batch() fills `embedding`.
struct PreparedText {
  Encoding encoding;
  std::vector<float> embedding;  // the finished vector: set by a cache hit or by embed_batch()
  // SparseEncoder::encode_batch: the vocabulary ids of `embedding`'s values (empty otherwise).
  std::vector<int32_t> sparse_indices;
  bool from_cache = false;  // then `encoding` holds only the counters, no ids
  size_t tokens = 0;        // tokens the model sees for this input (usage counts)

  // Set by prepare(); callers pass them through unchanged.
  int64_t prompt_length = 0;
  bool normalize = false;
  size_t dimensions = 0;  // `embedding` is cut to this many values (Matryoshka truncation)
  std::string cache_key;  // empty when the cache is off
};

struct ModelInfo {
  std::filesystem::path dir;
  std::string architecture;    // e.g. "bert"
  size_t dimension = 0;        // length of each embedding (after the default truncation)
  size_t model_dimension = 0;  // length of the module chain's output, before any truncation
  size_t hidden_size = 0;
  size_t layers = 0;
  size_t attention_heads = 0;
  size_t key_value_heads = 0;  // fewer than attention_heads with grouped-query attention
  size_t head_dim = 0;         // not always hidden_size / attention_heads (Qwen3, Gemma 3)
  size_t intermediate_size = 0;
  bool gated_mlp = false;  // SwiGLU / GeGLU: the up projection is 2 * intermediate_size wide
  bool pre_norm = false;   // norms on each block's input (ModernBERT, Qwen3, Gemma 3)
  size_t vocab_size = 0;
  size_t max_length = 0;  // effective maximum tokens per text
  std::string activation;
  std::string pooling;  // e.g. "mean" or "cls+mean"
  // The modules.json modules after pooling, e.g. "Dense(768->3072) -> Dense(3072->768)"; empty
  // when there are none. `dimension` is their output's.
  std::string output_modules;
  bool normalize = false;
  size_t parameters = 0;
  std::string weight_dtype;   // dtype of the tensors in model.safetensors
  std::string compute_dtype;  // what the encoder's matmuls compute in (effective precision)
  // The resolved knobs (optimize mode defaults with explicit options applied).
  OptimizeMode optimize = OptimizeMode::kBalanced;
  Precision precision = Precision::kF32;  // effective precision
  int threads = 0;
  size_t batch_size = 0;
  size_t max_batch_tokens = 0;
  size_t cache_bytes = 0;
  bool deterministic = true;
  bool adaptive_batching = false;
  size_t weight_bytes = 0;  // resident bytes of the packed weights
  // Estimated resident weight bytes had the model been loaded in fp32, bf16 or int8 (from its
  // shapes and weight_dtype); weight_bytes is the measured figure of the loaded precision.
  size_t weight_bytes_fp32 = 0, weight_bytes_bf16 = 0, weight_bytes_int8 = 0;
  // The feed-forward matmul kernel for one row and for a 256-row batch, for bug reports:
  // "embedrt:..." for embedrt's packed GEMM, else oneDNN's implementation name (the ISA levels
  // are in system_info()).
  std::string matmul_one_row;
  std::string matmul_batch;
  std::vector<std::string> warnings;  // e.g. a precision fallback on this CPU
};

struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  size_t entries = 0;
  size_t bytes = 0;           // bytes held (keys and vectors)
  size_t capacity_bytes = 0;  // 0 = cache off
};

class Embedder {
 public:
  static Embedder load(const std::string& model, const EmbedderOptions& options = {});

  // prepare() + length-sorted batches under the token budget + embed_batch(), in input order.
  // Tokenizes the next chunk of a large input while the current one runs.
  Embeddings encode(std::span<const std::string> texts, const EncodeOptions& options = {}) const;

  // The two halves of encode(), for callers that merge inputs from several requests into one
  // model batch (the server's continuous batching). prepare() throws kInputTooLong naming
  // first_index + i when text i is too long and overflow is an error.
  std::vector<PreparedText> prepare(std::span<const std::string> texts,
                                    const EncodeOptions& options = {}) const;
  // Token ids given directly (used as they are: no special tokens added). Throws
  // kInvalidArgument naming the input index for an id outside the vocabulary or an empty input.
  std::vector<PreparedText> prepare_token_ids(std::span<const std::vector<int32_t>> inputs,
                                              const EncodeOptions& options = {}) const;
  // Runs the model on `items` as one packed batch (items with from_cache are skipped), fills
  // each item's embedding and stores it in the cache. Items may come from different prepare()
  // calls with different options. With deterministic on, results do not depend on the batch.
  // `times`, when given, receives the tensor_conversion/model_inference/pooling/normalization
  // figures of this batch (added to what it holds).
  // `checkpoint`, when set, is called on this thread between the encoder's operations (about
  // five times per layer). It may call embed_batch() for other items, which then finish before
  // this batch goes on: a server uses it to let a short query overtake a large batch instead of
  // waiting for all of it. Time spent in it is left out of `times`; results are unchanged.
  using Checkpoint = std::function<void()>;
  void embed_batch(std::span<PreparedText* const> items, StageTimes* times = nullptr,
                   const Checkpoint& checkpoint = {}) const;

  const ModelInfo& info() const noexcept;
  const TextTokenizer& tokenizer() const noexcept;
  CacheStats cache_stats() const;
  // Bytes of activation buffers held by this Embedder's workspaces at their largest.
  size_t buffer_peak_bytes() const;

  Embedder(Embedder&&) noexcept;
  Embedder& operator=(Embedder&&) noexcept;
  ~Embedder();

 private:
  struct Impl;
  explicit Embedder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace embedrt
