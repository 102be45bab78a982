#pragma once
#include <cstdint>
#include <vector>

#include "kernels/optimizer.hpp"

namespace retnet::reference {

// min(1, max_norm / (|g| + 1e-6)) over all gradients, as torch.nn.utils.clip_grad_norm_.
double clip_scale(const std::vector<std::vector<float>>& grads, double max_norm);

// torch.optim.AdamW's update of one tensor, in double, gradient multiplied by `grad_scale`.
void adamw_step(std::vector<float>& param, const std::vector<float>& grad, std::vector<float>& m,
                std::vector<float>& v, const kernels::AdamWSettings& settings, int64_t step, double grad_scale);

}  // namespace retnet::reference
