#include "reference/cross_entropy.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace retnet::reference {

namespace {

void check(size_t logits, size_t rows, int64_t vocab) {
  if (vocab < 1 || logits != rows * size_t(vocab)) throw std::invalid_argument("cross_entropy: sizes do not match");
}

template <typename Real>
double log_sum_exp(const Real* row, int64_t vocab) {
  double top = row[0];
  for (int64_t i = 1; i < vocab; ++i) top = std::max(top, double(row[i]));
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(double(row[i]) - top);
  return top + std::log(sum);
}

}  // namespace

template <typename Real>
std::vector<Real> cross_entropy(const std::vector<Real>& logits, const std::vector<int32_t>& targets, int64_t vocab) {
  check(logits.size(), targets.size(), vocab);
  std::vector<Real> losses(targets.size(), Real(0));
  for (size_t r = 0; r < targets.size(); ++r) {
    if (targets[r] < 0) continue;
    if (targets[r] >= vocab) throw std::invalid_argument("cross_entropy: target outside the vocabulary");
    const Real* row = &logits[r * vocab];
    losses[r] = static_cast<Real>(log_sum_exp(row, vocab) - double(row[targets[r]]));
  }
  return losses;
}

template <typename Real>
std::vector<Real> cross_entropy_backward(const std::vector<Real>& logits, const std::vector<int32_t>& targets,
                                         int64_t vocab, double scale) {
  check(logits.size(), targets.size(), vocab);
  std::vector<Real> grad(logits.size(), Real(0));
  for (size_t r = 0; r < targets.size(); ++r) {
    if (targets[r] < 0) continue;
    const Real* row = &logits[r * vocab];
    const double lse = log_sum_exp(row, vocab);
    for (int64_t i = 0; i < vocab; ++i)
      grad[r * vocab + i] = static_cast<Real>(scale * (std::exp(double(row[i]) - lse) - (i == targets[r] ? 1.0 : 0.0)));
  }
  return grad;
}

template std::vector<float> cross_entropy(const std::vector<float>&, const std::vector<int32_t>&, int64_t);
template std::vector<double> cross_entropy(const std::vector<double>&, const std::vector<int32_t>&, int64_t);
template std::vector<float> cross_entropy_backward(const std::vector<float>&, const std::vector<int32_t>&, int64_t,
                                                   double);
template std::vector<double> cross_entropy_backward(const std::vector<double>&, const std::vector<int32_t>&, int64_t,
                                                    double);

}  // namespace retnet::reference
