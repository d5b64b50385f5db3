#include "model/transformer_encoder.h"

#include <malloc.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "embedrt/error.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/rotary.h"
#include "model/safetensors.h"

namespace embedrt::model {

using kernels::Activation;
using kernels::Linear;
using kernels::LinearSpec;

void Workspace::reserve(const TransformerSpec& c, int64_t tokens, int64_t max_len, int threads) {
  const auto grow = [](std::vector<float>& v, int64_t n) {
    if (v.size() < static_cast<size_t>(n)) v.resize(n);
  };
  grow(hidden_, tokens * c.hidden_size);
  grow(qkv_, tokens * c.qkv_dim());
  grow(context_, tokens * c.query_dim());
  grow(sum_, tokens * c.hidden_size);
  const bool gated = c.mlp == MlpKind::kGated;
  const int64_t chunk = std::min(tokens, ffn_chunk_tokens(c));
  grow(intermediate_, chunk * c.intermediate_size * (gated ? 2 : 1));
  if (gated) grow(gated_, chunk * c.intermediate_size);
  if (c.norm_placement == NormPlacement::kPre) grow(normed_, tokens * c.hidden_size);
  grow(attention_scratch_,
       int64_t(kernels::attention_scratch_per_thread(max_len, c.head_dim())) * threads);
  if (c.position == PositionKind::kRotary) {
    // Tables depend only on the position, so a table made for a longer batch serves as is.
    const int64_t half = c.rotary.dim / 2;
    const auto table = [&](std::vector<float>& cos, std::vector<float>& sin, int64_t& positions,
                           double base) {
      if (positions >= max_len) return;
      cos.resize(max_len * half);
      sin.resize(max_len * half);
      kernels::rotary_tables(max_len, c.rotary.dim, base, cos.data(), sin.data(),
                             c.rotary.inv_freq_divisor);
      positions = max_len;
    };
    table(rotary_cos_, rotary_sin_, rotary_positions_, c.rotary.base);
    if (c.local_window > 0 && c.rotary.local_base > 0 && c.rotary.local_base != c.rotary.base) {
      table(local_rotary_cos_, local_rotary_sin_, local_rotary_positions_, c.rotary.local_base);
    }
  }
  if (c.relative_attention_num_buckets > 0) {
    grow(relative_bias_, c.num_attention_heads * std::max<int64_t>(2 * max_len - 1, 1));
  }
}

size_t Workspace::bytes() const noexcept {
  size_t floats = 0;
  for (const auto* v :
       {&hidden_, &qkv_, &context_, &sum_, &intermediate_, &attention_scratch_, &normed_, &gated_,
        &rotary_cos_, &rotary_sin_, &local_rotary_cos_, &local_rotary_sin_, &relative_bias_}) {
    floats += v->capacity();
  }
  return floats * sizeof(float);
}

namespace {

// A norm of rows of x into the same rows of out, run by a matmul on each block of rows it
// finishes (kernels::RowsDone): the rows are still in the finishing thread's cache, where a pass
// of its own after the matmul read them back from L3, and the pass's own parallel region goes.
// all-mpnet-base-v2, 3,000 STS-B sentences, fp32: the LayerNorms 1.23-1.27% of samples as their
// own pass, 0.97-1.04% run this way (Xeon with AMX, 2 threads; same bits).
struct NormRows {
  const float* x;
  float* out;
  const float* weight;
  const float* bias;
  float eps;
  int64_t h;
  bool rms;

  static void run(const void* self, int64_t r0, int64_t r1) {
    const NormRows& n = *static_cast<const NormRows*>(self);
    if (n.rms) {
      kernels::rms_norm(n.x + r0 * n.h, n.weight, n.eps, r1 - r0, n.h, n.h, n.out + r0 * n.h);
    } else {
      kernels::add_layer_norm(n.x + r0 * n.h, nullptr, n.weight, n.bias, n.eps, r1 - r0, n.h,
                              n.out + r0 * n.h);
    }
  }
  kernels::RowsDone hook() const { return {&NormRows::run, this}; }
};

// Adds the time since the previous mark to one field of InferenceOpTimes; does nothing (not even
// read the clock) when profiling is off.
class OpClock {
 public:
  explicit OpClock(embedrt::InferenceOpTimes* times) : times_(times) {
    if (times_) last_ = std::chrono::steady_clock::now();
  }
  void mark(double embedrt::InferenceOpTimes::*field) {
    if (!times_) return;
    const auto now = std::chrono::steady_clock::now();
    times_->*field += std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
  }
  // Leaves the time since the last mark out of every figure.
  void restart() {
    if (times_) last_ = std::chrono::steady_clock::now();
  }

 private:
  embedrt::InferenceOpTimes* times_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace

TransformerEncoder::TransformerEncoder(const TransformerSpec& config, TransformerWeights w,
                                       const EncoderOptions& options)
    : config_(config),
      word_embeddings_(std::move(w.word_embeddings)),
      position_embeddings_(std::move(w.position_embeddings)),
      token_type_embeddings_(std::move(w.token_type_embeddings)),
      mapped_file_(std::move(w.file)),
      word_embeddings_mapped_(std::move(w.word_embeddings_mapped)),
      embedding_norm_weight_(std::move(w.embedding_norm_weight)),
      embedding_norm_bias_(std::move(w.embedding_norm_bias)),
      final_norm_weight_(std::move(w.final_norm_weight)),
      final_norm_bias_(std::move(w.final_norm_bias)),
      relative_attention_bias_(std::move(w.relative_attention_bias)) {
  std::string warning;
  precision_ = kernels::resolve_precision(options.precision, &warning);
  if (!warning.empty()) warnings_.push_back(std::move(warning));
  if (!w.word_embeddings_half.empty()) {
    if (precision_ == kernels::Precision::kF32) {
      word_embeddings_.resize(w.word_embeddings_half.size());
      (w.word_embeddings_bf16 ? kernels::bf16_to_float : kernels::half_to_float)(
          w.word_embeddings_half.data(), int64_t(word_embeddings_.size()), word_embeddings_.data());
    } else {
      // bf16 and int8 keep a 16-bit table as the checkpoint stored it (exact).
      word_embeddings_half_ = std::move(w.word_embeddings_half);
      word_embeddings_bf16_ = w.word_embeddings_bf16;
    }
  } else if (precision_ == kernels::Precision::kInt8) {
    // Half keeps 11 significant bits, far finer than the int8 activations downstream, and halves
    // the table (47 MB of MiniLM's 58 MB of int8-mode weights in fp32). A mapped table too, so
    // int8 results do not depend on how the weights were loaded.
    const float* table = float_word_embeddings();
    const size_t n = word_embeddings_mapped_.empty()
                         ? word_embeddings_.size()
                         : word_embeddings_mapped_.size() / sizeof(float);
    word_embeddings_half_.resize(n);
    kernels::float_to_half(table, int64_t(n), word_embeddings_half_.data());
    word_embeddings_ = std::vector<float>();
    word_embeddings_mapped_ = MappedTensor();
    mapped_file_.reset();
  }
  const int64_t h = config.hidden_size, i = config.intermediate_size;
  const int64_t qd = config.query_dim();
  const kernels::Precision p = precision_;
  // Families with post-attention / post-feedforward norms add the residual after that norm.
  const bool attention_residual = config.names.post_attention_norm.empty();
  const bool ffn_residual = config.names.post_ffn_norm.empty();
  const bool gated = config.mlp == MlpKind::kGated;
  // The feed-forward matmuls get the tokens in chunks of this many rows (forward()).
  const int64_t ffn_chunk = ffn_chunk_tokens(config);
  // Gated MLPs apply the activation to half of the up projection's output, outside the GEMM.
  const Activation up_activation = gated ? Activation::kNone : config.hidden_act;
  const auto bias = [](const std::vector<float>& b) { return b.empty() ? nullptr : b.data(); };
  const int64_t num_layers = w.layer_count();
  layers_.reserve(size_t(num_layers));
  for (int64_t n = 0; n < num_layers; ++n) {
    // A streaming load reads the layer here, so at most one layer's copy is ever resident (none of
    // a 16-bit checkpoint's whole matrices, which are packed from the mapping).
    LayerWeights l = w.take_layer(n);
    layers_.push_back(Layer{Linear({h, config.qkv_dim(), Activation::kNone, false, p},
                                   l.qkv_weight.view(), bias(l.qkv_bias)),
                            Linear({qd, h, Activation::kNone, attention_residual, p},
                                   l.attention_output_weight.view(), bias(l.attention_output_bias)),
                            Linear({h, gated ? 2 * i : i, up_activation, false, p, ffn_chunk},
                                   l.intermediate_weight.view(), bias(l.intermediate_bias)),
                            Linear({i, h, Activation::kNone, ffn_residual, p, ffn_chunk},
                                   l.output_weight.view(), bias(l.output_bias)),
                            std::move(l.attention_norm_weight), std::move(l.attention_norm_bias),
                            std::move(l.output_norm_weight), std::move(l.output_norm_bias),
                            std::move(l.query_norm_weight), std::move(l.key_norm_weight),
                            std::move(l.post_attention_norm_weight),
                            std::move(l.post_ffn_norm_weight)});
  }
#ifdef __GLIBC__
  // Each layer's fp32 copy was freed as soon as it was packed; glibc keeps such freed blocks in
  // the heap (its mmap threshold grows past their size), so hand them back to the system rather
  // than leave a layer's worth of dead pages resident for the process's life.
  malloc_trim(0);
#endif
}

TransformerEncoder TransformerEncoder::load(const std::filesystem::path& dir,
                                            const EncoderOptions& options) {
  const TransformerSpec config = load_transformer_spec(dir / "config.json");
  // The file stays mapped while the layers are packed one at a time; each tensor's pages are
  // dropped once converted, so the file and the packed copies are never resident together.
  // An fp32 word table is read in place from it (load_transformer_weights), so the encoder may
  // keep the file mapped.
  const auto file = std::make_shared<const SafeTensorsFile>(dir / "model.safetensors");
  return TransformerEncoder(
      config, load_transformer_weights(file, config, weight_load_options(options.precision)),
      options);
}

WeightLoadOptions weight_load_options(kernels::Precision requested) {
  const kernels::Precision p = kernels::resolve_precision(requested, nullptr);
  WeightLoadOptions o;
  o.stream_layers = true;
  o.word_embeddings = p == kernels::Precision::kInt8   ? WordEmbeddings::kHalf
                      : p == kernels::Precision::kBF16 ? WordEmbeddings::kAsStored
                                                       : WordEmbeddings::kFloat;
  return o;
}

std::string TransformerEncoder::matmul_implementation(int64_t rows) const {
  return layers_.empty() ? std::string() : layers_.front().intermediate.implementation(rows);
}

size_t TransformerEncoder::weight_bytes() const noexcept {
  const auto bytes = [](const std::vector<float>& v) { return v.size() * sizeof(float); };
  size_t total = bytes(word_embeddings_) + word_embeddings_mapped_.size() +
                 word_embeddings_half_.size() * sizeof(uint16_t) + bytes(position_embeddings_) +
                 bytes(token_type_embeddings_) + bytes(embedding_norm_weight_) +
                 bytes(embedding_norm_bias_) + bytes(final_norm_weight_) + bytes(final_norm_bias_) +
                 bytes(relative_attention_bias_);
  for (const Layer& l : layers_) {
    total += l.qkv.weight_bytes() + l.attention_output.weight_bytes() +
             l.intermediate.weight_bytes() + l.output.weight_bytes() +
             bytes(l.attention_norm_weight) + bytes(l.attention_norm_bias) +
             bytes(l.output_norm_weight) + bytes(l.output_norm_bias) + bytes(l.query_norm_weight) +
             bytes(l.key_norm_weight) + bytes(l.post_attention_norm_weight) +
             bytes(l.post_ffn_norm_weight);
  }
  return total;
}

int64_t TransformerEncoder::validate(const PackedBatch& b) const {
  const auto fail = [](const std::string& what) {
    throw Error(ErrorCode::kInvalidArgument, "encoder input: " + what);
  };
  if (b.offsets.empty() || b.offsets.front() != 0) fail("offsets must start with 0");
  if (size_t(b.offsets.back()) != b.ids.size()) {
    fail("offsets end at " + std::to_string(b.offsets.back()) + " but there are " +
         std::to_string(b.ids.size()) + " ids");
  }
  if (!b.token_type_ids.empty() && b.token_type_ids.size() != b.ids.size()) {
    fail("token_type_ids has " + std::to_string(b.token_type_ids.size()) + " entries, ids has " +
         std::to_string(b.ids.size()));
  }
  int64_t max_len = 0;
  for (size_t s = 0; s + 1 < b.offsets.size(); ++s) {
    const int64_t len = int64_t(b.offsets[s + 1]) - b.offsets[s];
    if (len < 0) fail("offsets decrease at sequence " + std::to_string(s));
    if (len > config_.max_sequence_length()) {
      std::string limit =
          "max_position_embeddings is " + std::to_string(config_.max_position_embeddings);
      if (config_.position_offset > 0) {
        limit += " with positions from " + std::to_string(config_.position_offset) + ", so " +
                 std::to_string(config_.max_sequence_length()) + " tokens fit";
      }
      throw Error(ErrorCode::kInputTooLong, "encoder input: sequence " + std::to_string(s) +
                                                " has " + std::to_string(len) + " tokens, " +
                                                limit);
    }
    max_len = std::max(max_len, len);
  }
  for (size_t t = 0; t < b.ids.size(); ++t) {
    if (b.ids[t] < 0 || b.ids[t] >= config_.vocab_size) {
      fail("token " + std::to_string(t) + ": id " + std::to_string(b.ids[t]) +
           " outside the vocabulary [0, " + std::to_string(config_.vocab_size) + ")");
    }
    if (!b.token_type_ids.empty() && config_.type_vocab_size > 0 &&
        (b.token_type_ids[t] < 0 || b.token_type_ids[t] >= config_.type_vocab_size)) {
      fail("token " + std::to_string(t) + ": token type id " + std::to_string(b.token_type_ids[t]) +
           " outside [0, " + std::to_string(config_.type_vocab_size) + ")");
    }
  }
  return max_len;
}

void TransformerEncoder::embed(const PackedBatch& b, float* hidden) const {
  const int64_t h = config_.hidden_size;
  const int64_t num_seqs = int64_t(b.offsets.size()) - 1;
#pragma omp parallel for schedule(static) if (num_seqs > 1)
  for (int64_t s = 0; s < num_seqs; ++s) {
    int64_t next_position = config_.position_offset;
    for (int64_t t = b.offsets[s]; t < b.offsets[s + 1]; ++t) {
      // fairseq's rule (RoBERTa): the pad token sits just before the first position and does not
      // count.
      float* out = hidden + t * h;
      // A 16-bit table is widened into the output row; the fp32 table (empty then) is not
      // indexed, since an offset on its null data() is undefined.
      const float* word = out;
      if (word_embeddings_half_.empty()) {
        word = float_word_embeddings() + int64_t(b.ids[t]) * h;
      } else {
        (word_embeddings_bf16_ ? kernels::bf16_to_float : kernels::half_to_float)(
            word_embeddings_half_.data() + int64_t(b.ids[t]) * h, h, out);
      }
      const float* type_row = nullptr;
      if (!token_type_embeddings_.empty()) {
        const int64_t type = b.token_type_ids.empty() ? 0 : b.token_type_ids[t];
        type_row = token_type_embeddings_.data() + type * h;
      }
      if (position_embeddings_.empty()) {  // rotary positions: applied in attention
        if (type_row) {
          for (int64_t c = 0; c < h; ++c) out[c] = word[c] + type_row[c];
        } else if (word != out) {
          std::copy(word, word + h, out);
        }
        continue;
      }
      const bool pad = b.ids[t] == config_.position_pad_id;
      const int64_t position_row = pad ? config_.position_offset - 1 : next_position++;
      const float* position = position_embeddings_.data() + position_row * h;
      if (!type_row) {
        for (int64_t c = 0; c < h; ++c) out[c] = word[c] + position[c];
        continue;
      }
      // Same association as PyTorch: (word + type) + position.
      for (int64_t c = 0; c < h; ++c) out[c] = (word[c] + type_row[c]) + position[c];
    }
  }
}

const float* TransformerEncoder::float_word_embeddings() const noexcept {
  if (!word_embeddings_mapped_.empty()) {
    return reinterpret_cast<const float*>(word_embeddings_mapped_.data());
  }
  return word_embeddings_half_.empty() ? word_embeddings_.data() : nullptr;
}

void TransformerEncoder::expand_relative_bias(int64_t span, float* out) const {
  const int64_t heads = config_.num_attention_heads, width = 2 * span - 1;
  for (int64_t d = 0; d < width; ++d) {
    const int64_t bucket =
        relative_position_bucket(d - (span - 1), config_.relative_attention_num_buckets,
                                 config_.relative_attention_max_distance);
    for (int64_t head = 0; head < heads; ++head) {
      out[head * width + d] = relative_attention_bias_[bucket * heads + head];
    }
  }
}

std::span<const float> TransformerEncoder::forward(const PackedBatch& b, Workspace& ws,
                                                   bool batch_invariant,
                                                   embedrt::InferenceOpTimes* op_times,
                                                   const std::function<void()>& checkpoint) const {
  const int64_t max_len = validate(b);
  const int64_t tokens = int64_t(b.ids.size());
  const int64_t h = config_.hidden_size;
  const float eps = static_cast<float>(config_.layer_norm_eps);
  ws.reserve(config_, tokens, max_len, omp_get_max_threads());
  if (tokens == 0) return {};
  using Times = embedrt::InferenceOpTimes;
  OpClock clock(op_times);
  const auto pause = [&] {
    if (!checkpoint) return;
    checkpoint();
    clock.restart();
  };
  float* hidden = ws.hidden_.data();
  float* qkv = ws.qkv_.data();
  float* context = ws.context_.data();
  float* sum = ws.sum_.data();
  float* intermediate = ws.intermediate_.data();
  const bool pre_norm = config_.norm_placement == NormPlacement::kPre;
  const bool gated = config_.mlp == MlpKind::kGated;
  const bool rotary = config_.position == PositionKind::kRotary;
  const int64_t inner = config_.intermediate_size;
  const int64_t ffn_chunk = ffn_chunk_tokens(config_);
  const bool rms = config_.norm_kind == NormKind::kRms;
  const auto norm = [&](const float* x, const std::vector<float>& weight,
                        const std::vector<float>& bias, int64_t rows, float* out) {
    const NormRows n{x, out, weight.data(), bias.data(), eps, h, rms};
    NormRows::run(&n, 0, rows);
  };
  // hidden += norm(x): a post-attention / post-feedforward norm before its residual add.
  const auto norm_add = [&](const float* x, const std::vector<float>& weight, float* residual) {
    kernels::rms_norm(x, weight.data(), eps, tokens, h, h, residual, residual);
  };
  const int64_t qkv_dim = config_.qkv_dim(), query_dim = config_.query_dim();
  const int64_t head_dim = config_.head_dim();

  embed(b, hidden);
  if (!embedding_norm_weight_.empty()) {
    norm(hidden, embedding_norm_weight_, embedding_norm_bias_, tokens, hidden);
  }
  clock.mark(&Times::embeddings_ms);
  pause();
  kernels::AttentionArgs attention{
      qkv,      b.offsets.data(), int64_t(b.offsets.size()) - 1, config_.num_attention_heads,
      head_dim, context};
  attention.num_kv_heads = config_.kv_heads();
  attention.scale = static_cast<float>(config_.attention_scale);
  attention.causal = config_.causal;
  // bf16 and int8 modes: the attention products in bf16 too, where the CPU has AMX
  // (kernels::AttentionArgs; scores from two-part bf16 Q and K). fp32 mode stays fp32 throughout.
  attention.bf16 = precision_ != kernels::Precision::kF32;
  if (!relative_attention_bias_.empty()) {
    // Its values depend on j - i alone, so sizing it by this batch's longest sequence changes no
    // sequence's result.
    expand_relative_bias(max_len, ws.relative_bias_.data());
    attention.relative_bias = ws.relative_bias_.data();
    attention.bias_span = max_len;
  }
  kernels::RotaryArgs rotary_args;
  if (rotary) {
    rotary_args.x = qkv;
    rotary_args.row_stride = qkv_dim;
    rotary_args.second_offset = query_dim;
    rotary_args.second_num_heads = config_.kv_heads();
    rotary_args.offsets = b.offsets.data();
    rotary_args.num_seqs = int64_t(b.offsets.size()) - 1;
    rotary_args.num_heads = config_.num_attention_heads;
    rotary_args.head_dim = head_dim;
    rotary_args.dim = config_.rotary.dim;
    rotary_args.interleaved = config_.rotary.interleaved;
  }
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    const bool local = config_.layer_is_local(int64_t(l));
    const bool post_ffn_norm = !layer.post_ffn_norm_weight.empty();
    const float* attention_input = hidden;
    if (pre_norm && !layer.attention_norm_weight.empty()) {
      norm(hidden, layer.attention_norm_weight, layer.attention_norm_bias, tokens,
           ws.normed_.data());
      attention_input = ws.normed_.data();
    }
    layer.qkv.forward(attention_input, tokens, qkv, nullptr, batch_invariant);
    if (!layer.query_norm_weight.empty()) {
      kernels::rms_norm_heads(qkv, tokens, qkv_dim, config_.num_attention_heads, head_dim,
                              layer.query_norm_weight.data(), eps);
      kernels::rms_norm_heads(qkv + query_dim, tokens, qkv_dim, config_.kv_heads(), head_dim,
                              layer.key_norm_weight.data(), eps);
    }
    if (rotary) {
      const bool own_table = local && !ws.local_rotary_cos_.empty();
      rotary_args.cos = own_table ? ws.local_rotary_cos_.data() : ws.rotary_cos_.data();
      rotary_args.sin = own_table ? ws.local_rotary_sin_.data() : ws.rotary_sin_.data();
      kernels::apply_rotary(rotary_args);
    }
    clock.mark(&Times::qkv_ms);
    pause();
    attention.window = local ? config_.local_window : 0;
    kernels::attention(attention, ws.attention_scratch_.data(), ws.attention_scratch_.size());
    clock.mark(&Times::attention_ms);
    pause();
    if (!layer.post_attention_norm_weight.empty()) {
      layer.attention_output.forward(context, tokens, sum, nullptr, batch_invariant);
      norm_add(sum, layer.post_attention_norm_weight, hidden);
    } else {
      if (pre_norm) {
        layer.attention_output.forward(context, tokens, sum, hidden, batch_invariant);
        std::swap(hidden, sum);  // the residual stream goes on un-normalized
      } else {
        const NormRows to_hidden{
            sum, hidden, layer.attention_norm_weight.data(), layer.attention_norm_bias.data(), eps,
            h,   rms};
        layer.attention_output.forward(context, tokens, sum, hidden, batch_invariant,
                                       to_hidden.hook());
      }
    }
    clock.mark(&Times::attention_output_ms);
    pause();
    const float* ffn_input = hidden;
    if (pre_norm) {
      norm(hidden, layer.output_norm_weight, layer.output_norm_bias, tokens, ws.normed_.data());
      ffn_input = ws.normed_.data();
    }
    for (int64_t first = 0; first < tokens; first += ffn_chunk) {
      const int64_t n = std::min(ffn_chunk, tokens - first);
      layer.intermediate.forward(ffn_input + first * h, n, intermediate, nullptr, batch_invariant);
      const float* down_input = intermediate;
      if (gated) {
        kernels::gated_activation(config_.hidden_act, intermediate, n, inner, ws.gated_.data());
        down_input = ws.gated_.data();
      }
      clock.mark(&Times::ffn_up_ms);
      pause();
      // Post-norm: each chunk's rows normalized into hidden as the matmul finishes them (their
      // residual rows, which that overwrites, are read by then).
      const NormRows to_hidden{sum + first * h,
                               hidden + first * h,
                               layer.output_norm_weight.data(),
                               layer.output_norm_bias.data(),
                               eps,
                               h,
                               rms};
      layer.output.forward(down_input, n, sum + first * h,
                           post_ffn_norm ? nullptr : hidden + first * h, batch_invariant,
                           !pre_norm && !post_ffn_norm ? to_hidden.hook() : kernels::RowsDone{});
      clock.mark(&Times::ffn_down_ms);
      pause();
    }
    if (post_ffn_norm) {
      norm_add(sum, layer.post_ffn_norm_weight, hidden);
    } else if (pre_norm) {
      std::swap(hidden, sum);
    }
    clock.mark(&Times::ffn_down_ms);
  }
  if (!final_norm_weight_.empty()) {
    norm(hidden, final_norm_weight_, final_norm_bias_, tokens, hidden);
    clock.mark(&Times::ffn_down_ms);
  }
  return {hidden, static_cast<size_t>(tokens * h)};
}

}  // namespace embedrt::model
