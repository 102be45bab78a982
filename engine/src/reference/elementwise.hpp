#pragma once
#include <vector>

// Plain C++ references for the elementwise kernels (the ground truth of the GPU tests).
// Real is float or double throughout the references: double runs the finite-difference
// checks of the backward pass.
namespace retnet::reference {

template <typename Real>
void residual_add(std::vector<Real>& h, const std::vector<Real>& x);

// max |v| over the values (0 for none): what abs_max leaves in its slot.
template <typename Real>
Real abs_max(const std::vector<Real>& v);

// swish(z) = z sigmoid(z) and its derivative sigmoid(z) (1 + z (1 - sigmoid(z))).
double swish(double z);
double swish_derivative(double z);

}  // namespace retnet::reference
