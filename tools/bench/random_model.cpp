#include "bench/random_model.hpp"

#include <cmath>
#include <filesystem>

#include "gpu/tensor.hpp"
#include "model/config.hpp"
#include "model/parameter_names.hpp"
#include "model/safetensors.hpp"
#include "retnet/error.hpp"

namespace bench {

nlohmann::json named_config(const std::string& name) {
  if (name == "tiny")
    return {{"model_type", "retnet"}, {"hidden_size", 256}, {"num_hidden_layers", 4}, {"num_heads", 4},
            {"vocab_size", 259}};
  if (name == "1.3b")
    return {{"model_type", "retnet"}, {"hidden_size", 2048}, {"num_hidden_layers", 24}, {"num_heads", 8},
            {"vocab_size", 32000}};
  // A small model for the training-step benchmark: 134,108,160 parameters (85 M in its layers,
  // 24.6 M each in the embedding and the untied lm_head), as many as fla's RetNet of this shape.
  if (name == "small")
    return {{"model_type", "retnet"}, {"hidden_size", 768}, {"num_hidden_layers", 12}, {"num_heads", 8},
            {"vocab_size", 32000}};
  throw retnet::Error("unknown configuration '" + name + "' (known: tiny, small, 1.3b)");
}

void write_random_model(const nlohmann::json& j, const std::string& folder, uint64_t seed) {
  auto config = retnet::model::ModelConfig::from_json(j);
  std::filesystem::create_directories(folder);
  std::vector<retnet::model::NamedTensor> tensors;
  uint64_t state = seed * 0x9e3779b97f4a7c15ull + 1;
  for (const auto& spec : retnet::model::expected_parameters(config)) {
    const int64_t n = retnet::gpu::element_count(spec.shape);
    const float scale = spec.is_norm_weight ? 0.0f : 1.0f / std::sqrt(float(spec.shape.back()));
    retnet::model::NamedTensor t{spec.name, spec.shape, retnet::model::TensorDType::F16, {}};
    t.data.resize(n * 2);
    auto* h = reinterpret_cast<uint16_t*>(t.data.data());
    for (int64_t i = 0; i < n; ++i) {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;
      float u = float(state >> 40) / float(1ull << 24) * 2.0f - 1.0f;  // uniform in [-1, 1)
      h[i] = retnet::gpu::float_to_half(spec.is_norm_weight ? 1.0f : u * scale * 1.7320508f);
    }
    tensors.push_back(std::move(t));
  }
  retnet::model::write_safetensors(folder + "/model.safetensors", tensors);
  config.save(folder);
}

}  // namespace bench
