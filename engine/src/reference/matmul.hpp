#pragma once
#include <cstdint>
#include <vector>

namespace retnet::reference {

// y[M,N] = x[M,K] w[N,K]^T, accumulated in double.
std::vector<float> matmul(const std::vector<float>& x, const std::vector<float>& w, int64_t M, int64_t N, int64_t K);

}  // namespace retnet::reference
