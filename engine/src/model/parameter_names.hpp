#pragma once
// The parameters a RetNet checkpoint must hold, under fla's names, and the check of a
// checkpoint against them.
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/safetensors.hpp"

namespace retnet::model {

struct ParameterSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool is_norm_weight = false;  // kept in f32 and excluded from weight decay
};

std::vector<ParameterSpec> expected_parameters(const ModelConfig& config);

// The name, inside model.layers.{i}., that fla gives the per-head output norm's weight.
const char* gate_norm_parameter(const ModelConfig& config);

// Lists every missing tensor and every wrong shape in one Error; extra tensors are ignored.
void check_checkpoint(const CheckpointReader& reader, const ModelConfig& config);

}  // namespace retnet::model
