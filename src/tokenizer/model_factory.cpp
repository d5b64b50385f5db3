// Builds WordPiece, Unigram and BPE models from tokenizer.json's "model" object, checking what HF
// would only discover while encoding (a missing unk token, merges naming unknown tokens).
#include <string>
#include <utility>
#include <vector>

#include "embedrt/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/components.h"
#include "tokenizer/unigram.h"
#include "tokenizer/wordpiece.h"

namespace embedrt::tokenizer {
namespace {

// {"token": id, ...} into tokens indexed by id; ids must cover 0..n-1 exactly once.
std::vector<std::string> parse_vocab_object(const JsonNode& vocab) {
  vocab.expect_object();
  const size_t n = vocab.value().size();
  std::vector<std::string> tokens(n);
  std::vector<bool> seen(n, false);
  for (const auto& [token, value] : vocab.value().items()) {
    const JsonNode entry(value, vocab.file(), vocab.path() + "[\"" + token + "\"]");
    const int64_t id = entry.as_int();
    if (id < 0 || static_cast<uint64_t>(id) >= n) {
      entry.fail("id " + std::to_string(id) + " is out of range: expected 0 to " +
                 std::to_string(static_cast<int64_t>(n) - 1) + " for a vocabulary of " +
                 std::to_string(n) + " tokens");
    }
    const auto index = static_cast<size_t>(id);
    if (seen[index]) {
      entry.fail("duplicate id " + std::to_string(id) + ", also used by '" + tokens[index] + "'");
    }
    seen[index] = true;
    tokens[index] = token;
  }
  return tokens;
}

int32_t require_token(const JsonNode& field, const std::vector<std::string>& tokens,
                      const std::string& token, std::string_view role) {
  for (size_t id = tokens.size(); id-- > 0;) {
    if (tokens[id] == token) return static_cast<int32_t>(id);
  }
  field.fail(std::string(role) + " '" + token + "' is not in the vocabulary");
}

std::unique_ptr<Model> make_wordpiece(const JsonNode& node) {
  std::vector<std::string> tokens = parse_vocab_object(node.at("vocab"));
  const std::string unk = node.get_string("unk_token", "[UNK]");
  require_token(node.has("unk_token") ? node.at("unk_token") : node, tokens, unk, "unk_token");
  const int64_t max_chars = node.get_int("max_input_chars_per_word", 100);
  if (max_chars < 0) node.at("max_input_chars_per_word").fail("expected a non-negative integer");
  return std::make_unique<WordPiece>(std::move(tokens), unk,
                                     node.get_string("continuing_subword_prefix", "##"),
                                     static_cast<size_t>(max_chars));
}

std::unique_ptr<Model> make_unigram(const JsonNode& node) {
  const JsonNode vocab = node.at("vocab");
  const size_t n = vocab.array_size();
  std::vector<std::pair<std::string, double>> pieces;
  pieces.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const JsonNode entry = vocab.at(i);
    if (!entry.value().is_array() || entry.array_size() != 2) {
      entry.fail("expected a [token, score] pair, found " +
                 std::string(describe_json_type(entry.value())));
    }
    pieces.emplace_back(entry.at(size_t{0}).as_string(), entry.at(size_t{1}).as_double());
  }
  std::optional<int32_t> unk_id;
  if (auto unk = node.find("unk_id")) {
    const int64_t id = unk->as_int();
    if (id < 0 || static_cast<uint64_t>(id) >= n) {
      unk->fail("unk_id " + std::to_string(id) + " is out of range: expected 0 to " +
                std::to_string(static_cast<int64_t>(n) - 1));
    }
    unk_id = static_cast<int32_t>(id);
  }
  return std::make_unique<Unigram>(std::move(pieces), unk_id,
                                   node.get_bool("byte_fallback", false));
}

// A merge as "a b" or ["a", "b"].
std::pair<std::string, std::string> parse_merge(const JsonNode& entry) {
  if (entry.value().is_string()) {
    const std::string line = entry.as_string();
    const size_t space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
      entry.fail("expected a merge of two tokens separated by one space, found '" + line + "'");
    }
    return {line.substr(0, space), line.substr(space + 1)};
  }
  if (!entry.value().is_array() || entry.array_size() != 2) {
    entry.fail("expected a merge as \"a b\" or [\"a\", \"b\"], found " +
               std::string(describe_json_type(entry.value())));
  }
  return {entry.at(size_t{0}).as_string(), entry.at(size_t{1}).as_string()};
}

std::unique_ptr<Model> make_bpe(const JsonNode& node) {
  std::vector<std::string> tokens = parse_vocab_object(node.at("vocab"));
  BpeOptions options;
  if (auto unk = node.find("unk_token")) {
    options.unk_token = unk->as_string();
    require_token(*unk, tokens, *options.unk_token, "unk_token");
  }
  options.continuing_subword_prefix = node.get_string("continuing_subword_prefix", "");
  options.end_of_word_suffix = node.get_string("end_of_word_suffix", "");
  options.fuse_unk = node.get_bool("fuse_unk", false);
  options.byte_fallback = node.get_bool("byte_fallback", false);
  options.ignore_merges = node.get_bool("ignore_merges", false);

  std::unordered_map<std::string_view, int32_t> ids;
  ids.reserve(tokens.size());
  for (size_t id = 0; id < tokens.size(); ++id) {
    ids.insert_or_assign(std::string_view(tokens[id]), static_cast<int32_t>(id));
  }
  const JsonNode merges_node = node.at("merges");
  const size_t n = merges_node.array_size();
  const size_t prefix = options.continuing_subword_prefix.size();
  std::vector<BpeMerge> merges;
  merges.reserve(n);
  size_t skipped = 0;
  for (size_t i = 0; i < n; ++i) {
    const JsonNode entry = merges_node.at(i);
    // HF skips the "#version" header line that merges.txt files carry.
    if (entry.value().is_string() && entry.as_string().rfind("#version", 0) == 0) {
      ++skipped;
      continue;
    }
    auto [a, b] = parse_merge(entry);
    auto find = [&](const std::string& token) {
      auto it = ids.find(token);
      if (it == ids.end()) entry.fail("merge token '" + token + "' is not in the vocabulary");
      return it->second;
    };
    const int32_t left = find(a);
    const int32_t right = find(b);
    // The merged token drops the right part's continuing prefix, exactly as HF does.
    if (b.size() < prefix) entry.fail("merge token '" + b + "' is shorter than the prefix");
    const int32_t merged = find(a + b.substr(prefix));
    merges.push_back(BpeMerge{left, right, merged});
  }
  (void)skipped;
  return std::make_unique<Bpe>(std::move(tokens), merges, std::move(options));
}

}  // namespace

std::unique_ptr<Model> make_model(const JsonNode& node) {
  node.expect_object();
  std::string type;
  if (node.has("type")) {
    type = node.at("type").as_string();
  } else if (node.has("merges")) {
    type = "BPE";  // HF infers the model type when "type" is absent
  } else if (node.has("vocab") && node.at("vocab").value().is_array()) {
    type = "Unigram";
  } else {
    type = "WordPiece";
  }
  if (type == "WordPiece") return make_wordpiece(node);
  if (type == "Unigram") return make_unigram(node);
  if (type == "BPE") return make_bpe(node);
  node.at("type").unsupported("model type '" + type + "' is not supported");
}

}  // namespace embedrt::tokenizer
