#pragma once
// A checkpoint folder with random f16 weights for a named configuration, for benchmarks.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace bench {

// "tiny", "small" (hidden 768, 12 layers, 8 heads, vocab 32000) or "1.3b" (fla's RetNetConfig defaults: hidden 2048, 24 layers, 8 heads, vocab 32000).
nlohmann::json named_config(const std::string& name);
// Writes config.json + model.safetensors (f16, scaled like fla's init) into `folder`.
void write_random_model(const nlohmann::json& config, const std::string& folder, uint64_t seed);

}  // namespace bench
