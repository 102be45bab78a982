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

// Backward of the gather: d_table [vocab, dim] with row v the sum (in double) of the rows
// d_out[t, :] [T, dim] with tokens[t] == v; rows never gathered are zero, and ids outside
// [0, vocab) contribute nothing (their forward output is constant zero).
template <typename Real>
std::vector<Real> embedding_backward(const std::vector<int32_t>& tokens, const std::vector<Real>& d_out,
                                     int64_t vocab, int64_t dim);

}  // namespace retnet::reference
