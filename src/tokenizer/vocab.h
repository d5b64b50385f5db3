// Token strings indexed by id, with a reverse map from string to id. The map's keys view the
// strings owned by the vector, so a vocabulary is built once and never resized afterwards.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace embedrt::tokenizer {

class Vocab {
 public:
  Vocab() = default;
  // `tokens[id]` is the token with that id. When a string occurs twice the last id wins, as in
  // HF's HashMap-based vocabularies.
  explicit Vocab(std::vector<std::string> tokens);
  Vocab(const Vocab&) = delete;
  Vocab& operator=(const Vocab&) = delete;
  // Moving keeps the strings' storage (the vector's buffer), so the map's views stay valid.
  Vocab(Vocab&&) = default;
  Vocab& operator=(Vocab&&) = default;

  std::optional<int32_t> find(std::string_view token) const {
    auto it = ids_.find(token);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  const std::string& token(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  size_t size() const noexcept { return tokens_.size(); }
  const std::vector<std::string>& tokens() const noexcept { return tokens_; }

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string_view, int32_t> ids_;
};

}  // namespace embedrt::tokenizer
