#include "embedrt/text_tokenizer.h"

#include <algorithm>

#include "api/text_tokenizer_impl.h"
#include "embedrt/error.h"
#include "model/json_file.h"
#include "model/model_location.h"
#include "model/transformer_spec.h"
#include "runtime/python_text.h"
#include "tokenizer/utf8_repair.h"

namespace embedrt {
namespace fs = std::filesystem;

fs::path resolve_model_dir(const std::string& model) {
  return model::resolve_model_location(model, model::ModelSearchPaths::from_environment());
}

size_t model_position_limit(const model::ModelFolder& folder) {
  const fs::path config_file = folder.transformer_dir / "config.json";
  if (auto config = model::load_optional_json_file(config_file)) {
    try {
      // The family's own reading: RoBERTa's positions start past the pad id, so fewer fit.
      return static_cast<size_t>(
          std::max<int64_t>(0, model::parse_transformer_spec(config->dump(), config_file.string())
                                   .max_sequence_length()));
    } catch (const Error&) {
      // A config the encoder cannot run (the embedder reports why) still bounds what a
      // tokenizer-only caller may ask for.
    }
    if (config->is_object() && config->contains("max_position_embeddings") &&
        (*config)["max_position_embeddings"].is_number_integer()) {
      return static_cast<size_t>(
          std::max<int64_t>(0, (*config)["max_position_embeddings"].get<int64_t>()));
    }
  }
  return 0;
}

size_t model_sequence_limit(const model::ModelFolder& folder, size_t position_limit) {
  const size_t limit = folder.max_seq_length.value_or(folder.tokenizer_max_length.value_or(0));
  if (position_limit == 0) return limit;
  return limit == 0 ? position_limit : std::min(limit, position_limit);
}

TextTokenizer::Impl::Impl(model::ModelFolder folder_in, tokenizer::Tokenizer tokenizer_in,
                          TextTokenizerOptions options_in)
    : folder(std::move(folder_in)),
      tokenizer(std::move(tokenizer_in)),
      left_truncating(tokenizer.with_truncation({})),
      options(options_in),
      static_embedding(folder.input == model::InputModule::kStaticEmbedding) {
  configure_truncation();
  left_truncating = tokenizer.with_truncation(
      {tokenizer.truncation().max_length, tokenizer::TruncationSide::kLeft});
}

void TextTokenizer::Impl::configure_truncation() {
  if (options.raw || static_embedding) {
    // tokenizer.json alone: its own truncation unless the caller sets a limit.
    if (options.max_length > 0) {
      tokenizer.set_truncation({options.max_length, tokenizer.truncation().side});
    }
    max_length = tokenizer.truncation().max_length;
    return;
  }
  // As with sentence-transformers' max_seq_length, a caller may raise the limit past the
  // configured one, up to what the position embeddings cover.
  const size_t positions = model_position_limit(folder);
  const size_t configured = model_sequence_limit(folder, positions);
  const size_t ceiling = positions > 0 ? positions : configured;
  max_length = options.max_length > 0 ? options.max_length : configured;
  if (ceiling > 0 && max_length > ceiling) {
    throw Error(ErrorCode::kInvalidArgument,
                "max length " + std::to_string(max_length) + " exceeds the model's limit of " +
                    std::to_string(ceiling) + " tokens (" +
                    (positions > 0 ? "config.json max_position_embeddings"
                                   : "its configured maximum sequence length") +
                    ")");
  }
  // sentence-transformers truncates on the right with the tokenizer's own settings ignored.
  tokenizer.set_truncation({max_length, tokenizer::TruncationSide::kRight});
}

TextTokenizer TextTokenizer::load(const std::string& model, const TextTokenizerOptions& options) {
  if (options.threads < 0) throw Error(ErrorCode::kInvalidArgument, "threads must be >= 0");
  model::ModelFolder folder = model::read_model_folder(resolve_model_dir(model));
  auto tokenizer = tokenizer::Tokenizer::from_file(folder.transformer_dir / "tokenizer.json");
  return TextTokenizer(std::make_unique<Impl>(std::move(folder), std::move(tokenizer), options));
}

namespace {

// Writes the text as it reaches tokenizer.json's pipeline; returns how many invalid UTF-8
// sequences were replaced.
size_t prepare_text(const TextTokenizer::Impl& impl, std::string_view text, std::string_view prompt,
                    std::string& out) {
  uint32_t replaced = 0;
  std::string valid = tokenizer::replace_invalid_utf8(text, &replaced);
  if (!prompt.empty()) valid.insert(0, prompt);
  if (impl.options.raw || impl.static_embedding) {
    out = std::move(valid);
  } else if (impl.folder.do_lower_case) {
    out = runtime::python_lower(runtime::python_strip(valid));
  } else {
    out.assign(runtime::python_strip(valid));
  }
  return replaced;
}

}  // namespace

std::string TextTokenizer::preprocess(std::string_view text, std::string_view prompt) const {
  std::string out;
  prepare_text(*impl_, text, prompt, out);
  return out;
}

Encoding TextTokenizer::tokenize(std::string_view text, std::string_view prompt,
                                 TruncationSide side) const {
  std::string prepared;
  const size_t replaced = prepare_text(*impl_, text, prompt, prepared);
  Encoding encoding = impl_->for_side(side).encode(prepared, !impl_->static_embedding);
  encoding.replaced_invalid_utf8 = static_cast<uint32_t>(replaced);
  return encoding;
}

std::vector<Encoding> TextTokenizer::tokenize_batch(std::span<const std::string> texts,
                                                    std::string_view prompt,
                                                    TruncationSide side) const {
  std::vector<std::string> prepared(texts.size());
  std::vector<uint32_t> replaced(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    replaced[i] = static_cast<uint32_t>(prepare_text(*impl_, texts[i], prompt, prepared[i]));
  }
  std::vector<std::string_view> views(prepared.begin(), prepared.end());
  auto encodings =
      impl_->for_side(side).encode_batch(views, !impl_->static_embedding, impl_->options.threads);
  for (size_t i = 0; i < encodings.size(); ++i) encodings[i].replaced_invalid_utf8 = replaced[i];
  return encodings;
}

size_t TextTokenizer::max_length() const noexcept { return impl_->max_length; }
size_t TextTokenizer::vocab_size() const { return impl_->tokenizer.vocab_size(); }
const fs::path& TextTokenizer::model_dir() const noexcept { return impl_->folder.dir; }

TextTokenizer::TextTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TextTokenizer::TextTokenizer(TextTokenizer&&) noexcept = default;
TextTokenizer& TextTokenizer::operator=(TextTokenizer&&) noexcept = default;
TextTokenizer::~TextTokenizer() = default;

}  // namespace embedrt
