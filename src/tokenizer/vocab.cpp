#include "tokenizer/vocab.h"

namespace embedrt::tokenizer {

Vocab::Vocab(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  ids_.reserve(tokens_.size());
  for (size_t id = 0; id < tokens_.size(); ++id) {
    ids_.insert_or_assign(std::string_view(tokens_[id]), static_cast<int32_t>(id));
  }
}

}  // namespace embedrt::tokenizer
