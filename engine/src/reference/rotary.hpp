#pragma once
#include <cstdint>
#include <vector>

// Plain C++ reference for the rotary position embedding (angles and sin/cos in double).
namespace retnet::reference {

// In place on x [rows, heads, head_dim] (head_dim even), positions [rows]:
// a = t * 10000^(-2i/d); x'[i] = x[i] cos a - x[i+d/2] sin a; x'[i+d/2] = x[i+d/2] cos a + x[i] sin a.
template <typename Real>
void rotary(std::vector<Real>& x, const std::vector<int32_t>& positions, int64_t heads, int64_t head_dim);

// Backward, in place on the gradient: each pair is rotated by -a (a rotation's transpose).
template <typename Real>
void rotary_backward(std::vector<Real>& grad, const std::vector<int32_t>& positions, int64_t heads,
                     int64_t head_dim);

}  // namespace retnet::reference
