#include "tiny_model.hpp"

#include <cstring>
#include <unistd.h>

#include <filesystem>

#include "model/parameter_names.hpp"
#include "model/safetensors.hpp"
#include "test_support.hpp"

namespace test {

const retnet::model::ModelConfig& tiny_model_config() {
  static const auto config = retnet::model::ModelConfig::from_json(
      {{"model_type", "retnet"}, {"hidden_size", 48}, {"num_hidden_layers", 2}, {"num_heads", 3},
       {"vocab_size", 300}, {"intermediate_size", 80}, {"norm_eps", 1e-6}, {"tie_word_embeddings", false}});
  return config;
}

const retnet::reference::Weights& tiny_model_weights() {
  static const auto weights = [] {
    retnet::reference::Weights w;
    uint32_t seed = 1000;
    for (const auto& spec : retnet::model::expected_parameters(tiny_model_config())) {
      const int64_t n = retnet::gpu::element_count(spec.shape);
      auto values = random_vector(n, seed++, spec.is_norm_weight ? 0.2f : 0.3f);
      if (spec.is_norm_weight)
        for (auto& v : values) v += 1.0f;  // around 1, but not 1: a skipped norm weight shows
      w[spec.name] = std::move(values);
    }
    return w;
  }();
  return weights;
}

std::string tiny_model_folder(const std::string& tag, const std::string& drop) {
  namespace fs = std::filesystem;
  auto dir = fs::temp_directory_path() / ("retnet-tiny-model-" + tag + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<retnet::model::NamedTensor> tensors;
  for (const auto& spec : retnet::model::expected_parameters(tiny_model_config())) {
    if (spec.name == drop) continue;
    const auto& values = tiny_model_weights().at(spec.name);
    retnet::model::NamedTensor t{spec.name, spec.shape, retnet::model::TensorDType::F32, {}};
    t.data.resize(values.size() * 4);
    std::memcpy(t.data.data(), values.data(), t.data.size());
    tensors.push_back(std::move(t));
  }
  retnet::model::write_safetensors((dir / "model.safetensors").string(), tensors);
  tiny_model_config().save(dir.string());
  return dir.string();
}

}  // namespace test
