#pragma once
// The whole RetNet forward pass in plain C++ (the reference kernels, parallel retention),
// the ground truth of the GPU model tests. Weights by fla parameter name, f32 values.
#include <map>
#include <string>
#include <vector>

#include "model/config.hpp"

namespace retnet::reference {

using Weights = std::map<std::string, std::vector<float>>;

// Logits [tokens.size(), vocab_size] for a sequence starting at position 0.
std::vector<float> model_forward(const model::ModelConfig& config, const Weights& weights,
                                 const std::vector<int32_t>& tokens);

}  // namespace retnet::reference
