#pragma once
#include <cstdint>
#include <vector>

// Plain C++ reference for the softmax cross-entropy (double accumulation), Real float or double.
namespace retnet::reference {

// Per row of logits [rows, vocab]: logsumexp(row) - row[target]; 0 for a negative target.
template <typename Real>
std::vector<Real> cross_entropy(const std::vector<Real>& logits, const std::vector<int32_t>& targets, int64_t vocab);

// The gradient of scale * sum(losses) w.r.t. the logits: scale * (softmax - onehot(target)).
template <typename Real>
std::vector<Real> cross_entropy_backward(const std::vector<Real>& logits, const std::vector<int32_t>& targets,
                                         int64_t vocab, double scale);

}  // namespace retnet::reference
