#pragma once
#include <vector>

// Plain C++ references for the elementwise kernels (the ground truth of the GPU tests).
namespace retnet::reference {

void residual_add(std::vector<float>& h, const std::vector<float>& x);
float swish(float z);

}  // namespace retnet::reference
