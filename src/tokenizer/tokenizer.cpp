#include "tokenizer/tokenizer.h"

#include <omp.h>

#include <exception>
#include <fstream>
#include <sstream>

#include "embedrt/error.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/components.h"
#include "tokenizer/utf8_repair.h"

namespace embedrt::tokenizer {

struct Tokenizer::Impl final : TokenLookup {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Model> model;
  std::unique_ptr<PostProcessor> post_processor;
  AddedVocabulary added;

  std::optional<int32_t> find_id(std::string_view token) const override {
    if (auto id = added.token_to_id(token)) return id;
    return model->token_to_id(token);
  }

  // Pipeline up to the model: added tokens, normalizer, pre-tokenizer, model. Appends tokens with
  // offsets into the caller's text.
  void tokenize(NormalizedString&& whole, std::vector<Token>& tokens) const;
  void tokenize_normalized(NormalizedString&& piece, std::vector<Token>& tokens) const;
  void run_model(const NormalizedString& piece, std::vector<Token>& tokens) const;
};

namespace {

void push_token(std::vector<Token>& tokens, int32_t id, ByteSpan span, bool added = false) {
  tokens.push_back(Token{id, span, added});
}

Truncation parse_truncation(const JsonNode& node) {
  node.expect_object();
  Truncation t;
  const int64_t max_length = node.at("max_length").as_int();
  if (max_length < 0) node.at("max_length").fail("expected a non-negative integer");
  t.max_length = static_cast<size_t>(max_length);
  const std::string direction = node.get_string("direction", "Right");
  if (direction == "Left") {
    t.side = TruncationSide::kLeft;
  } else if (direction != "Right") {
    node.at("direction").fail("expected 'Right' or 'Left', found '" + direction + "'");
  }
  // One sequence at a time: LongestFirst and OnlyFirst truncate it; OnlySecond needs a pair.
  const std::string strategy = node.get_string("strategy", "LongestFirst");
  if (strategy == "OnlySecond") {
    node.at("strategy").unsupported("truncation strategy 'OnlySecond' needs a pair of sequences");
  } else if (strategy != "LongestFirst" && strategy != "OnlyFirst") {
    node.at("strategy")
        .fail("expected 'LongestFirst', 'OnlyFirst' or 'OnlySecond', found '" + strategy + "'");
  }
  return t;
}

std::vector<AddedToken> parse_added_tokens(const JsonNode& list) {
  std::vector<AddedToken> tokens;
  const size_t n = list.array_size();
  for (size_t i = 0; i < n; ++i) {
    const JsonNode entry = list.at(i);
    entry.expect_object();
    AddedToken t;
    t.content = entry.at("content").as_string();
    t.special = entry.get_bool("special", false);
    t.single_word = entry.get_bool("single_word", false);
    t.lstrip = entry.get_bool("lstrip", false);
    t.rstrip = entry.get_bool("rstrip", false);
    t.normalized = entry.get_bool("normalized", !t.special);
    if (entry.has("id")) {
      const int64_t id = entry.at("id").as_int();
      if (id < 0 || id > INT32_MAX) entry.at("id").fail("expected a non-negative token id");
    }
    tokens.push_back(std::move(t));
  }
  return tokens;
}

}  // namespace

void Tokenizer::Impl::run_model(const NormalizedString& piece, std::vector<Token>& tokens) const {
  thread_local std::vector<PieceToken> piece_tokens;
  piece_tokens.clear();
  model->tokenize(piece.text(), piece_tokens);
  const auto size = static_cast<uint32_t>(piece.size());
  for (const PieceToken& t : piece_tokens) {
    // Only BPE byte fallback combined with a subword prefix yields spans past the piece.
    const uint32_t end = std::min(t.end, size);
    push_token(tokens, t.id, piece.original_span(std::min(t.begin, end), end));
  }
}

void Tokenizer::Impl::tokenize_normalized(NormalizedString&& piece,
                                          std::vector<Token>& tokens) const {
  auto model_pieces = [&](NormalizedString&& text) {
    if (text.empty()) return;
    if (!pre_tokenizer) {
      run_model(text, tokens);
      return;
    }
    std::vector<NormalizedString> pieces;
    pre_tokenizer->pre_tokenize(std::move(text), pieces);
    for (const NormalizedString& p : pieces) {
      if (!p.empty()) run_model(p, tokens);
    }
  };
  if (!added.has_normalized()) {
    model_pieces(std::move(piece));
    return;
  }
  std::vector<TextSplit> splits;
  added.split_normalized(piece.text(), splits);
  for (const TextSplit& s : splits) {
    if (s.id >= 0) {
      push_token(tokens, s.id, piece.original_span(s.begin, s.end), true);
    } else {
      model_pieces(piece.slice(s.begin, s.end));
    }
  }
}

void Tokenizer::Impl::tokenize(NormalizedString&& whole, std::vector<Token>& tokens) const {
  if (whole.empty()) return;
  auto normalize_then_split = [&](NormalizedString&& text) {
    if (text.empty()) return;
    if (normalizer) normalizer->normalize(text);
    tokenize_normalized(std::move(text), tokens);
  };
  if (!added.has_raw()) {
    normalize_then_split(std::move(whole));
    return;
  }
  std::vector<TextSplit> splits;
  added.split_raw(whole.text(), splits);
  for (const TextSplit& s : splits) {
    if (s.id >= 0) {
      push_token(tokens, s.id, whole.original_span(s.begin, s.end), true);
    } else {
      normalize_then_split(whole.slice(s.begin, s.end));
    }
  }
}

Tokenizer::Tokenizer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_json(std::string_view json, const std::string& source_name) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kInvalidModel,
                source_name + ": $: expected valid JSON (" + std::string(e.what()) + ")");
  }
  const JsonNode root(doc, source_name);
  root.expect_object();
  if (auto version = root.find("version")) {
    if (version->as_string() != "1.0") {
      version->unsupported("tokenizer.json version '" + version->as_string() +
                           "' is not supported, expected '1.0'");
    }
  }
  auto impl = std::make_shared<Impl>();
  // "padding" and "decoder" do not change the ids of one text: embedrt packs sequences end to
  // end without padding and never decodes ids back to text.
  if (auto node = root.find("normalizer")) impl->normalizer = make_normalizer(*node);
  if (auto node = root.find("pre_tokenizer")) impl->pre_tokenizer = make_pre_tokenizer(*node);
  impl->model = make_model(root.at("model"));
  std::vector<AddedToken> added_tokens;
  if (auto node = root.find("added_tokens")) added_tokens = parse_added_tokens(*node);
  impl->added = AddedVocabulary(added_tokens, *impl->model, impl->normalizer.get());
  if (auto node = root.find("post_processor")) {
    impl->post_processor = make_post_processor(*node, *impl);
  }
  Tokenizer tokenizer(std::move(impl));
  if (auto node = root.find("truncation")) {
    const Truncation t = parse_truncation(*node);
    if (t.max_length > 0 && t.max_length < tokenizer.special_tokens_added()) {
      node->at("max_length")
          .fail("expected at least " + std::to_string(tokenizer.special_tokens_added()) +
                " to leave room for the special tokens");
    }
    tokenizer.truncation_ = t;
  }
  return tokenizer;
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, path.string() + ": cannot open tokenizer file");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error(ErrorCode::kIo, path.string() + ": cannot read tokenizer file");
  return from_json(buffer.str(), path.string());
}

std::vector<Token> Tokenizer::tokens_of(std::string_view text, uint32_t* replaced) const {
  if (text.size() >= UINT32_MAX / 2) {
    throw Error(ErrorCode::kInvalidArgument, "text of " + std::to_string(text.size()) +
                                                 " bytes is too long to tokenize (limit 2 GiB)");
  }
  NormalizedString whole = normalized_from_bytes(text, replaced);
  std::vector<Token> tokens;
  tokens.reserve(text.size() / 3 + 4);
  impl_->tokenize(std::move(whole), tokens);
  return tokens;
}

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& impl = *impl_;
  uint32_t replaced = 0;
  std::vector<Token> tokens = tokens_of(text, &replaced);

  uint32_t dropped = 0;
  if (truncation_.max_length > 0) {
    const size_t added = add_special_tokens ? special_tokens_added() : 0;
    const size_t limit = truncation_.max_length - std::min(added, truncation_.max_length);
    if (tokens.size() > limit) {
      dropped = static_cast<uint32_t>(tokens.size() - limit);
      if (truncation_.side == TruncationSide::kRight) {
        tokens.resize(limit);
      } else {
        tokens.erase(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(dropped));
      }
    }
  }

  Encoding out;
  if (impl.post_processor) {
    impl.post_processor->process(tokens, text, add_special_tokens, out);
  } else {
    out.ids.reserve(tokens.size());
    out.offsets.reserve(tokens.size());
    for (const Token& t : tokens) {
      out.ids.push_back(t.id);
      out.offsets.push_back(t.offsets);
    }
    out.type_ids.assign(tokens.size(), 0);
    out.special_tokens_mask.assign(tokens.size(), 0);
  }
  out.truncated_tokens = dropped;
  out.replaced_invalid_utf8 = replaced;
  return out;
}

namespace {

// Keeps `keep` tokens, dropping from the end (right) or the start (left); returns how many went.
uint32_t truncate_tokens(std::vector<Token>& tokens, size_t keep, TruncationSide side) {
  if (tokens.size() <= keep) return 0;
  const size_t dropped = tokens.size() - keep;
  if (side == TruncationSide::kRight) {
    tokens.resize(keep);
  } else {
    tokens.erase(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(dropped));
  }
  return static_cast<uint32_t>(dropped);
}

}  // namespace

Encoding Tokenizer::encode_pair(std::string_view a, std::string_view b,
                                bool add_special_tokens) const {
  const Impl& impl = *impl_;
  uint32_t replaced_a = 0, replaced_b = 0;
  std::vector<Token> first = tokens_of(a, &replaced_a);
  std::vector<Token> second = tokens_of(b, &replaced_b);

  uint32_t dropped = 0;
  if (truncation_.max_length > 0) {
    const size_t added = add_special_tokens ? special_tokens_added_pair() : 0;
    if (truncation_.max_length < added) {
      throw Error(ErrorCode::kInvalidArgument,
                  "truncation max_length " + std::to_string(truncation_.max_length) +
                      " leaves no room for the " + std::to_string(added) +
                      " special tokens of a pair");
    }
    const size_t room = truncation_.max_length - added;
    if (first.size() + second.size() > room) {
      // HF tokenizers' LongestFirst: with n1 <= n2, the longer keeps max(n1, room - n1) (n1 when
      // n1 alone overflows), and if the two still overflow each keeps half (the longer one the odd
      // token).
      size_t n1 = first.size(), n2 = second.size();
      const bool swapped = n1 > n2;
      if (swapped) std::swap(n1, n2);
      n2 = n1 > room ? n1 : std::max(n1, room - n1);
      if (n1 + n2 > room) {
        n1 = room / 2;
        n2 = n1 + room % 2;
      }
      if (swapped) std::swap(n1, n2);
      dropped = truncate_tokens(first, n1, truncation_.side) +
                truncate_tokens(second, n2, truncation_.side);
    }
  }

  Encoding out;
  if (impl.post_processor) {
    impl.post_processor->process_pair(first, a, second, b, add_special_tokens, out);
  } else {
    for (const auto* seq : {&first, &second}) {
      const int32_t type = seq == &first ? 0 : 1;
      for (const Token& t : *seq) {
        out.ids.push_back(t.id);
        out.offsets.push_back(t.offsets);
        out.type_ids.push_back(type);
        out.special_tokens_mask.push_back(0);
      }
    }
  }
  out.truncated_tokens = dropped;
  out.replaced_invalid_utf8 = replaced_a + replaced_b;
  return out;
}

std::vector<Encoding> Tokenizer::encode_batch(std::span<const std::string_view> texts,
                                              bool add_special_tokens, int threads) const {
  std::vector<Encoding> out(texts.size());
  const int n = static_cast<int>(texts.size());
  const int workers = threads > 0 ? threads : omp_get_max_threads();
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 8) num_threads(workers) if (n > 1 && workers > 1)
  for (int i = 0; i < n; ++i) {
    try {
      out[static_cast<size_t>(i)] = encode(texts[static_cast<size_t>(i)], add_special_tokens);
    } catch (...) {
#pragma omp critical(embedrt_tokenizer_batch_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  return out;
}

const Truncation& Tokenizer::truncation() const noexcept { return truncation_; }

Tokenizer Tokenizer::with_truncation(const Truncation& truncation) const {
  Tokenizer copy(impl_);
  copy.set_truncation(truncation);
  return copy;
}

void Tokenizer::set_truncation(const Truncation& truncation) {
  if (truncation.max_length > 0 && truncation.max_length < special_tokens_added()) {
    throw Error(ErrorCode::kInvalidArgument,
                "truncation max_length " + std::to_string(truncation.max_length) +
                    " leaves no room for the " + std::to_string(special_tokens_added()) +
                    " special tokens; expected at least that many");
  }
  truncation_ = truncation;
}

size_t Tokenizer::vocab_size() const {
  return impl_->model->vocab_size() + impl_->added.extra_vocab_size();
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  return impl_->find_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (auto token = impl_->added.id_to_token(id)) return token;
  return impl_->model->id_to_token(id);
}

size_t Tokenizer::special_tokens_added() const {
  return impl_->post_processor ? impl_->post_processor->added_tokens_single() : 0;
}

size_t Tokenizer::special_tokens_added_pair() const {
  return impl_->post_processor ? impl_->post_processor->added_tokens_pair() : 0;
}

}  // namespace embedrt::tokenizer
