#pragma once
// The whole RetNet forward pass in plain C++ (the reference kernels, parallel retention),
// the ground truth of the GPU model tests. Weights by fla parameter name, f32 values.
#include <map>
#include <string>
#include <vector>

#include "model/config.hpp"

namespace retnet::reference {

template <typename Real>
using WeightsOf = std::map<std::string, std::vector<Real>>;
using Weights = WeightsOf<float>;

// Logits [tokens.size(), vocab_size] for a sequence starting at position 0.
std::vector<float> model_forward(const model::ModelConfig& config, const Weights& weights,
                                 const std::vector<int32_t>& tokens);

// The training loss and its gradients: for N sequences of T tokens (inputs and targets
// [N*T], each sequence from position 0; a negative target is ignored), returns
// loss_scale * sum of the token cross-entropies and, if grads is given, writes the gradient
// of that value for every parameter. Real double gives the ground truth of the GPU
// backward pass (and can itself be checked by finite differences).
template <typename Real>
double model_loss(const model::ModelConfig& config, const WeightsOf<Real>& weights, const std::vector<int32_t>& inputs,
                  const std::vector<int32_t>& targets, int64_t N, int64_t T, double loss_scale,
                  WeightsOf<Real>* grads);

}  // namespace retnet::reference
