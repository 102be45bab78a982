#pragma once
#include <cstdint>
#include <vector>

// Plain C++ references for retention (the ground truth of the GPU tests). The three forms are
// written independently of each other, accumulate in double and return Real (float, or double for the
// finite-difference checks). Layouts as
// the GPU kernels: q, k [N, T, H, dk]; v, o [N, T, H, dv]; state [N, H, dk, dv]; row-major.
// See kernels/retention.hpp for the forms and why they agree.
namespace retnet::reference {

struct RetentionShape {
  int64_t n = 1, t = 1, h = 1, dk = 1, dv = 1;  // sequences, tokens, heads, head dims
};

// gamma_h = 1 - 2^(-5-h).
double retention_gamma(int64_t head);

// o_n = sum_{m<=n} gamma^(n-m) scale (q_n . k_m) v_m, scale = dk^-0.5.
template <typename Real>
std::vector<Real> retention_parallel(const std::vector<Real>& q, const std::vector<Real>& k,
                                      const std::vector<Real>& v, const RetentionShape& shape);

// S_n = gamma S_(n-1) + k_n^T v_n, o_n = scale q_n S_n, from `state` (updated to the final state).
template <typename Real>
std::vector<Real> retention_recurrent(const std::vector<Real>& q, const std::vector<Real>& k,
                                       const std::vector<Real>& v, std::vector<Real>& state,
                                       const RetentionShape& shape);

// The chunkwise form with chunks of `chunk_size` positions, from `state` (updated).
template <typename Real>
std::vector<Real> retention_chunkwise(const std::vector<Real>& q, const std::vector<Real>& k,
                                       const std::vector<Real>& v, std::vector<Real>& state,
                                       const RetentionShape& shape, int64_t chunk_size);

}  // namespace retnet::reference
