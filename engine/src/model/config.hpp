#pragma once
// config.json of a RetNet checkpoint, with fla-org/flash-linear-attention's RetNetConfig
// defaults and the derived shapes of docs in ../shared/retnet-math.md.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace retnet::model {

struct ModelConfig {
  int64_t hidden_size = 2048, num_layers = 24, num_heads = 8, vocab_size = 32000;
  double expand_k = 1.0, expand_v = 2.0;
  int64_t key_dim = 0, value_dim = 0, head_k_dim = 0, head_v_dim = 0, intermediate_size = 0;
  double norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  // fla names the per-head output norm g_norm_swish_gate when fused, g_norm when not: same math.
  bool fuse_norm = true;
  std::string hidden_act = "swish";  // swish or silu: the same function, but fla names norms by it
  int64_t bos_token_id = 1, eos_token_id = 2;  // fla's defaults; -1 when null
  nlohmann::json original;  // the file as read, so a save keeps keys this engine does not use

  // Applies fla's defaults, derives the dimensions and refuses options this engine does not
  // implement, naming them.
  static ModelConfig from_json(const nlohmann::json& j);
  static ModelConfig load(const std::string& folder);
  nlohmann::json to_json() const;
  void save(const std::string& folder) const;  // folder/config.json, atomically
};

}  // namespace retnet::model
