#pragma once
#include <vector>

#include "reference/retention.hpp"

// Plain C++ reference for the backward pass of retention (the ground truth of the GPU
// backward tests), computed straight from the parallel form with double accumulation.
// Layouts as the forward: q, k [N, T, H, dk]; v, d_o [N, T, H, dv]; row-major; zero initial state.
namespace retnet::reference {

// Given d_o = dL/do for o_n = scale sum_{m<=n} gamma^(n-m) (q_n . k_m) v_m (scale = dk^-0.5,
// gamma_h = 1 - 2^(-5-h)), writes (resizing) the input gradients:
//   dq_n = scale sum_{m<=n} gamma^(n-m) (d_o_n . v_m) k_m
//   dk_m = scale sum_{n>=m} gamma^(n-m) (d_o_n . v_m) q_n
//   dv_m = scale sum_{n>=m} gamma^(n-m) (q_n . k_m) d_o_n
// Sizes that do not match the shape throw std::invalid_argument.
template <typename Real>
void retention_backward(const std::vector<Real>& q, const std::vector<Real>& k, const std::vector<Real>& v,
                        const std::vector<Real>& d_o, const RetentionShape& shape, std::vector<Real>& dq,
                        std::vector<Real>& dk, std::vector<Real>& dv);

}  // namespace retnet::reference
