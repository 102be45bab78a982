#pragma once
#include <cstdint>
#include <vector>

// Plain C++ references for retention (the ground truth of the GPU tests). The three forms are
// written independently of each other, accumulate in double and return floats. Layouts as
// the GPU kernels: q, k [N, T, H, dk]; v, o [N, T, H, dv]; state [N, H, dk, dv]; row-major.
// See kernels/retention.hpp for the forms and why they agree.
namespace retnet::reference {

struct RetentionShape {
  int64_t n = 1, t = 1, h = 1, dk = 1, dv = 1;  // sequences, tokens, heads, head dims
};

// gamma_h = 1 - 2^(-5-h).
double retention_gamma(int64_t head);

// o_n = sum_{m<=n} gamma^(n-m) scale (q_n . k_m) v_m, scale = dk^-0.5.
std::vector<float> retention_parallel(const std::vector<float>& q, const std::vector<float>& k,
                                      const std::vector<float>& v, const RetentionShape& shape);

// S_n = gamma S_(n-1) + k_n^T v_n, o_n = scale q_n S_n, from `state` (updated to the final state).
std::vector<float> retention_recurrent(const std::vector<float>& q, const std::vector<float>& k,
                                       const std::vector<float>& v, std::vector<float>& state,
                                       const RetentionShape& shape);

// The chunkwise form with chunks of `chunk_size` positions, from `state` (updated).
std::vector<float> retention_chunkwise(const std::vector<float>& q, const std::vector<float>& k,
                                       const std::vector<float>& v, std::vector<float>& state,
                                       const RetentionShape& shape, int64_t chunk_size);

}  // namespace retnet::reference
