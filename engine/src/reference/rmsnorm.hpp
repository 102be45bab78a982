#pragma once
#include <vector>

// Plain C++ references for the RMSNorm kernels (double accumulation), row-major, Real float or double.
namespace retnet::reference {

// y = x / sqrt(mean(x^2) + eps) * weight per row of weight.size() values.
template <typename Real>
std::vector<Real> rmsnorm(const std::vector<Real>& x, const std::vector<Real>& weight, double eps);

// y = rmsnorm(o; weight) * swish(gate), each row of weight.size() values (one head) on its own.
template <typename Real>
std::vector<Real> rmsnorm_swish_gate(const std::vector<Real>& o, const std::vector<Real>& gate,
                                     const std::vector<Real>& weight, double eps);

// Backward of rmsnorm: given dy, returns dx and adds the weight's gradient into dweight.
// With r = 1/sqrt(mean(x^2) + eps) and u = dy * weight per row:
//   dx = r u - x r^3 sum(u x) / n,   dweight += sum over rows of dy x r.
template <typename Real>
std::vector<Real> rmsnorm_backward(const std::vector<Real>& x, const std::vector<Real>& weight,
                                   const std::vector<Real>& dy, double eps, std::vector<Real>& dweight);

// Backward of rmsnorm_swish_gate: returns do (the norm's input gradient) and writes dgate;
// adds the norm weight's gradient into dweight. dgate = dy rmsnorm(o) swish'(gate), and the
// norm sees dy swish(gate).
template <typename Real>
std::vector<Real> rmsnorm_swish_gate_backward(const std::vector<Real>& o, const std::vector<Real>& gate,
                                              const std::vector<Real>& weight, const std::vector<Real>& dy,
                                              double eps, std::vector<Real>& dgate, std::vector<Real>& dweight);

}  // namespace retnet::reference
