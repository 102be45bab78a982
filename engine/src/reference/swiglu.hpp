#pragma once
#include <cstdint>
#include <vector>

// Plain C++ references for the gated MLP of a RetNet block (double accumulation), row-major.
namespace retnet::reference {

// swish(gate) * up elementwise.
template <typename Real>
std::vector<Real> swiglu(const std::vector<Real>& gate, const std::vector<Real>& up);

// Backward: dgate = dout up swish'(gate), dup = dout swish(gate).
template <typename Real>
void swiglu_backward(const std::vector<Real>& gate, const std::vector<Real>& up, const std::vector<Real>& dout,
                     std::vector<Real>& dgate, std::vector<Real>& dup);

// The whole MLP: (swish(m Wgate^T) * (m Wup^T)) Wdown^T for m [rows, D], w_gate and w_up
// [I, D], w_down [D, I] (nn.Linear layout); returns [rows, D]. The intermediate is kept in
// double, so this is the exact answer up to the final rounding.
template <typename Real>
std::vector<Real> feed_forward(const std::vector<Real>& m, const std::vector<Real>& w_gate,
                               const std::vector<Real>& w_up, const std::vector<Real>& w_down, int64_t rows, int64_t D,
                               int64_t I);

}  // namespace retnet::reference
