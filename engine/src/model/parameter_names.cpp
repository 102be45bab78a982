#include "model/parameter_names.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "retnet/error.hpp"

namespace retnet::model {

const char* gate_norm_parameter(const ModelConfig& c) {
  // fla fuses the norm with the gate only for fuse_norm and the exact name "swish".
  return c.fuse_norm && c.hidden_act == "swish" ? "attn.g_norm_swish_gate.weight" : "attn.g_norm.weight";
}

std::vector<ParameterSpec> expected_parameters(const ModelConfig& c) {
  const int64_t D = c.hidden_size, I = c.intermediate_size;
  std::vector<ParameterSpec> p;
  p.push_back({"model.embeddings.weight", {c.vocab_size, D}, false});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    auto n = [&](const char* s) { return fmt::format("model.layers.{}.{}", i, s); };
    p.push_back({n("attn_norm.weight"), {D}, true});
    p.push_back({n("attn.q_proj.weight"), {c.key_dim, D}, false});
    p.push_back({n("attn.k_proj.weight"), {c.key_dim, D}, false});
    p.push_back({n("attn.v_proj.weight"), {c.value_dim, D}, false});
    p.push_back({n("attn.g_proj.weight"), {c.value_dim, D}, false});
    p.push_back({n(gate_norm_parameter(c)), {c.head_v_dim}, true});
    p.push_back({n("attn.o_proj.weight"), {D, c.value_dim}, false});
    p.push_back({n("mlp_norm.weight"), {D}, true});
    p.push_back({n("mlp.gate_proj.weight"), {I, D}, false});
    p.push_back({n("mlp.up_proj.weight"), {I, D}, false});
    p.push_back({n("mlp.down_proj.weight"), {D, I}, false});
  }
  p.push_back({"model.norm.weight", {D}, true});
  if (!c.tie_word_embeddings) p.push_back({"lm_head.weight", {c.vocab_size, D}, false});
  return p;
}

void check_checkpoint(const CheckpointReader& reader, const ModelConfig& config) {
  std::vector<std::string> missing, misshaped;
  for (const auto& spec : expected_parameters(config)) {
    if (!reader.has(spec.name)) {
      missing.push_back(spec.name);
    } else if (reader.info(spec.name).shape != spec.shape) {
      misshaped.push_back(fmt::format("{} has shape [{}], config.json implies [{}]", spec.name,
                                      fmt::join(reader.info(spec.name).shape, ", "), fmt::join(spec.shape, ", ")));
    }
  }
  if (missing.empty() && misshaped.empty()) return;
  // A config for another model size misshapes every tensor: name the first few and count the rest.
  auto listed = [](const std::vector<std::string>& items, const char* separator) {
    constexpr size_t kNamed = 6;
    if (items.size() <= kNamed) return fmt::format("{}", fmt::join(items, separator));
    return fmt::format("{}{}and {} more", fmt::join(items.begin(), items.begin() + kNamed, separator), separator,
                       items.size() - kNamed);
  };
  std::string msg = "the checkpoint does not match its config.json:";
  if (!missing.empty()) msg += fmt::format(" {} missing tensors: {}.", missing.size(), listed(missing, ", "));
  if (!misshaped.empty()) msg += fmt::format(" {} wrong shapes: {}.", misshaped.size(), listed(misshaped, "; "));
  throw Error(msg);
}

}  // namespace retnet::model
