#pragma once
#include <cstdint>
#include <vector>

// Plain C++ reference for the matmul kernels (the ground truth of the GPU tests).
namespace retnet::reference {

// y[M,N] = x[M,K] w[N,K]^T (the nn.Linear layout), row-major, accumulated in double.
// Real is float or double (double for the finite-difference checks of the backward pass).
template <typename Real>
std::vector<Real> matmul(const std::vector<Real>& x, const std::vector<Real>& w, int64_t M, int64_t N, int64_t K);

// Backward of y = x w^T for x: dx[M,K] = dy[M,N] w[N,K], accumulated in double.
template <typename Real>
std::vector<Real> matmul_backward_input(const std::vector<Real>& dy, const std::vector<Real>& w, int64_t M, int64_t N,
                                        int64_t K);

// Backward of y = x w^T for w: dw[N,K] = dy[M,N]^T x[M,K], accumulated in double.
template <typename Real>
std::vector<Real> matmul_backward_weight(const std::vector<Real>& x, const std::vector<Real>& dy, int64_t M, int64_t N,
                                         int64_t K);

}  // namespace retnet::reference
