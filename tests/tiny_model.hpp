#pragma once
// A tiny random RetNet (2 layers, 3 heads, head dims 16 x 32) written as a checkpoint folder.
#include <string>

#include "model/config.hpp"
#include "reference/model.hpp"

namespace test {

const retnet::model::ModelConfig& tiny_model_config();
const retnet::reference::Weights& tiny_model_weights();
// Writes the model into a fresh temporary folder named after `tag`, leaving out `drop`.
std::string tiny_model_folder(const std::string& tag, const std::string& drop = "");

}  // namespace test
