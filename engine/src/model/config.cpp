#include "model/config.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>

#include "model/atomic_file.hpp"
#include "retnet/error.hpp"

namespace retnet::model {

namespace {

bool is_set(const nlohmann::json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

template <class T>
T get_or(const nlohmann::json& j, const char* key, T fallback) {
  if (!is_set(j, key)) return fallback;
  try {
    return j[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(fmt::format("config.json: '{}' has the wrong type ({})", key, j[key].dump()));
  }
}

// fla's default when the key is absent, -1 when it is explicitly null.
int64_t special_token(const nlohmann::json& j, const char* key, int64_t fla_default) {
  if (!j.contains(key)) return fla_default;
  return get_or<int64_t>(j, key, -1);
}

void refuse(const std::string& what) {
  throw Error(fmt::format("config.json: {} is not supported by retnet-vk", what));
}

}  // namespace

ModelConfig ModelConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw Error("config.json is not a JSON object");
  ModelConfig c;
  c.original = j;
  std::string type = get_or<std::string>(j, "model_type", "retnet");
  if (type != "retnet") throw Error(fmt::format("config.json: model_type '{}' is not 'retnet'", type));
  c.hidden_size = get_or<int64_t>(j, "hidden_size", c.hidden_size);
  c.num_layers = get_or<int64_t>(j, "num_hidden_layers", c.num_layers);
  c.num_heads = get_or<int64_t>(j, "num_heads", c.num_heads);
  c.vocab_size = get_or<int64_t>(j, "vocab_size", c.vocab_size);
  c.expand_k = get_or<double>(j, "expand_k", c.expand_k);
  c.expand_v = get_or<double>(j, "expand_v", c.expand_v);
  c.norm_eps = get_or<double>(j, "norm_eps", c.norm_eps);
  c.tie_word_embeddings = get_or<bool>(j, "tie_word_embeddings", false);
  c.bos_token_id = special_token(j, "bos_token_id", 1);
  c.eos_token_id = special_token(j, "eos_token_id", 2);

  // Options of fla's RetNet this engine does not implement: refused, never ignored.
  if (get_or<bool>(j, "use_short_conv", false)) refuse("use_short_conv = true (short convolutions)");
  if (is_set(j, "feature_map")) refuse(fmt::format("feature_map = {}", j["feature_map"].dump()));
  if (is_set(j, "num_kv_heads") && get_or<int64_t>(j, "num_kv_heads", c.num_heads) != c.num_heads)
    refuse(fmt::format("num_kv_heads = {} (grouped keys/values; num_heads is {})", j["num_kv_heads"].dump(), c.num_heads));
  if (!get_or<bool>(j, "use_output_gate", true)) refuse("use_output_gate = false");
  std::string act = get_or<std::string>(j, "hidden_act", "swish");
  if (act != "swish" && act != "silu") refuse(fmt::format("hidden_act = '{}' (only swish)", act));
  c.hidden_act = act;
  if (is_set(j, "attn")) refuse("attn (hybrid softmax-attention layers)");
  if (is_set(j, "attnres_block_size")) refuse("attnres_block_size (attention residuals)");
  c.fuse_norm = get_or<bool>(j, "fuse_norm", true);
  if (!get_or<bool>(j, "elementwise_affine", true)) refuse("elementwise_affine = false (norms without weights)");

  for (auto [name, v] : {std::pair{"hidden_size", c.hidden_size}, {"num_hidden_layers", c.num_layers},
                         {"num_heads", c.num_heads}, {"vocab_size", c.vocab_size}})
    if (v <= 0) throw Error(fmt::format("config.json: {} must be positive, got {}", name, v));
  if (!(c.norm_eps > 0)) throw Error("config.json: norm_eps must be positive");

  c.key_dim = static_cast<int64_t>(c.hidden_size * c.expand_k);
  c.value_dim = static_cast<int64_t>(c.hidden_size * c.expand_v);
  if (c.key_dim <= 0 || c.value_dim <= 0) throw Error("config.json: expand_k and expand_v must be positive");
  if (c.key_dim % c.num_heads || c.value_dim % c.num_heads)
    throw Error(fmt::format("config.json: key_dim {} and value_dim {} must be divisible by num_heads {}", c.key_dim,
                            c.value_dim, c.num_heads));
  c.head_k_dim = c.key_dim / c.num_heads;
  c.head_v_dim = c.value_dim / c.num_heads;
  if (c.head_k_dim > 256) throw Error(fmt::format("config.json: head_k_dim {} exceeds 256 (as in fla)", c.head_k_dim));
  if (c.head_k_dim % 2) throw Error(fmt::format("config.json: head_k_dim {} must be even for rotary", c.head_k_dim));

  if (is_set(j, "intermediate_size")) {
    c.intermediate_size = get_or<int64_t>(j, "intermediate_size", 0);
  } else {
    // fla's GatedMLP: int(D * hidden_ratio * 2/3) rounded up to a multiple of 256; ratio 4 if null.
    double ratio = get_or<double>(j, "hidden_ratio", j.contains("hidden_ratio") ? 4.0 : 2.0);
    int64_t i = static_cast<int64_t>(c.hidden_size * ratio * 2.0 / 3.0);
    c.intermediate_size = 256 * ((i + 255) / 256);
  }
  if (c.intermediate_size <= 0) throw Error("config.json: intermediate_size must be positive");
  return c;
}

ModelConfig ModelConfig::load(const std::string& folder) {
  std::string path = folder + "/config.json";
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("cannot open '{}': a model folder needs config.json", path));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("'{}' is not valid JSON: {}", path, e.what()));
  }
  try {
    return from_json(j);
  } catch (const Error& e) {
    throw Error(fmt::format("{} ({})", e.what(), path));
  }
}

nlohmann::json ModelConfig::to_json() const {
  nlohmann::json j = original.is_object() ? original : nlohmann::json::object();
  j["model_type"] = "retnet";
  j["architectures"] = {"RetNetForCausalLM"};
  j["hidden_size"] = hidden_size;
  j["num_hidden_layers"] = num_layers;
  j["num_heads"] = num_heads;
  j["vocab_size"] = vocab_size;
  j["expand_k"] = expand_k;
  j["expand_v"] = expand_v;
  j["intermediate_size"] = intermediate_size;
  j["norm_eps"] = norm_eps;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["fuse_norm"] = fuse_norm;
  j["bos_token_id"] = bos_token_id >= 0 ? nlohmann::json(bos_token_id) : nlohmann::json(nullptr);
  j["eos_token_id"] = eos_token_id >= 0 ? nlohmann::json(eos_token_id) : nlohmann::json(nullptr);
  j["hidden_act"] = hidden_act;
  return j;
}

void ModelConfig::save(const std::string& folder) const {
  write_file_atomically(folder + "/config.json", to_json().dump(2) + "\n");
}

}  // namespace retnet::model
