#pragma once
#include <vector>

// Plain C++ references for the RMSNorm kernels (double accumulation), row-major.
namespace retnet::reference {

// y = x / sqrt(mean(x^2) + eps) * weight per row of weight.size() values.
std::vector<float> rmsnorm(const std::vector<float>& x, const std::vector<float>& weight, float eps);

// y = rmsnorm(o; weight) * swish(gate), each row of weight.size() values (one head) on its own.
std::vector<float> rmsnorm_swish_gate(const std::vector<float>& o, const std::vector<float>& gate,
                                      const std::vector<float>& weight, float eps);

}  // namespace retnet::reference
