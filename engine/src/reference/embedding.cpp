#include "reference/embedding.hpp"

#include <stdexcept>

namespace retnet::reference {

std::vector<float> embedding(const std::vector<int32_t>& tokens, const std::vector<float>& table, int64_t vocab,
                             int64_t dim) {
  if (table.size() != size_t(vocab * dim)) throw std::invalid_argument("embedding: table size does not match");
  std::vector<float> out(tokens.size() * dim, 0.0f);
  for (size_t t = 0; t < tokens.size(); ++t)
    if (tokens[t] >= 0 && tokens[t] < vocab)
      for (int64_t j = 0; j < dim; ++j) out[t * dim + j] = table[tokens[t] * dim + j];
  return out;
}

}  // namespace retnet::reference
