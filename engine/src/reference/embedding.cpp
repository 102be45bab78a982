#include "reference/embedding.hpp"

#include <stdexcept>

namespace retnet::reference {

template <typename Real>
std::vector<Real> embedding(const std::vector<int32_t>& tokens, const std::vector<Real>& table, int64_t vocab,
                            int64_t dim) {
  if (table.size() != size_t(vocab * dim)) throw std::invalid_argument("embedding: table size does not match");
  std::vector<Real> out(tokens.size() * dim, Real(0));
  for (size_t t = 0; t < tokens.size(); ++t)
    if (tokens[t] >= 0 && tokens[t] < vocab)
      for (int64_t j = 0; j < dim; ++j) out[t * dim + j] = table[tokens[t] * dim + j];
  return out;
}

template std::vector<float> embedding(const std::vector<int32_t>&, const std::vector<float>&, int64_t, int64_t);
template std::vector<double> embedding(const std::vector<int32_t>&, const std::vector<double>&, int64_t, int64_t);

template <typename Real>
std::vector<Real> embedding_backward(const std::vector<int32_t>& tokens, const std::vector<Real>& d_out,
                                     int64_t vocab, int64_t dim) {
  if (vocab < 0 || dim < 0 || d_out.size() != tokens.size() * size_t(dim))
    throw std::invalid_argument("embedding_backward: d_out size does not match [T, dim]");
  std::vector<double> acc(size_t(vocab * dim), 0.0);
  for (size_t t = 0; t < tokens.size(); ++t)
    if (tokens[t] >= 0 && tokens[t] < vocab)
      for (int64_t j = 0; j < dim; ++j) acc[size_t(tokens[t] * dim + j)] += double(d_out[t * dim + j]);
  return std::vector<Real>(acc.begin(), acc.end());
}

template std::vector<float> embedding_backward(const std::vector<int32_t>&, const std::vector<float>&, int64_t,
                                               int64_t);
template std::vector<double> embedding_backward(const std::vector<int32_t>&, const std::vector<double>&, int64_t,
                                                int64_t);

}  // namespace retnet::reference
