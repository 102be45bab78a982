#pragma once
#include <cstdint>
#include <vector>

// Plain C++ reference for the embedding gather.
namespace retnet::reference {

// out [T, dim] = rows tokens[t] of table [vocab, dim]; an id outside [0, vocab) gives zeros
// (the same rule as the GPU kernel).
template <typename Real>
std::vector<Real> embedding(const std::vector<int32_t>& tokens, const std::vector<Real>& table, int64_t vocab,
                            int64_t dim);

}  // namespace retnet::reference
