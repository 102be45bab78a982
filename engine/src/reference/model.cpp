#include "reference/model.hpp"

#include <fmt/format.h>

#include "model/parameter_names.hpp"
#include "reference/elementwise.hpp"
#include "reference/embedding.hpp"
#include "reference/matmul.hpp"
#include "reference/retention.hpp"
#include "reference/rmsnorm.hpp"
#include "reference/rotary.hpp"
#include "reference/swiglu.hpp"
#include "retnet/error.hpp"

namespace retnet::reference {

std::vector<float> model_forward(const model::ModelConfig& c, const Weights& weights,
                                 const std::vector<int32_t>& tokens) {
  auto w = [&](const std::string& name) -> const std::vector<float>& {
    auto it = weights.find(name);
    if (it == weights.end()) throw Error(fmt::format("reference model: no weight '{}'", name));
    return it->second;
  };
  const int64_t T = static_cast<int64_t>(tokens.size()), D = c.hidden_size, I = c.intermediate_size;
  const float eps = static_cast<float>(c.norm_eps);
  std::vector<int32_t> positions(T);
  for (int64_t t = 0; t < T; ++t) positions[t] = static_cast<int32_t>(t);

  std::vector<float> h = embedding(tokens, w("model.embeddings.weight"), c.vocab_size, D);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    auto p = [&](const char* s) { return fmt::format("model.layers.{}.{}", l, s); };
    auto a = rmsnorm(h, w(p("attn_norm.weight")), eps);
    auto q = matmul(a, w(p("attn.q_proj.weight")), T, c.key_dim, D);
    auto k = matmul(a, w(p("attn.k_proj.weight")), T, c.key_dim, D);
    auto v = matmul(a, w(p("attn.v_proj.weight")), T, c.value_dim, D);
    auto g = matmul(a, w(p("attn.g_proj.weight")), T, c.value_dim, D);
    rotary(q, positions, c.num_heads, c.head_k_dim);
    rotary(k, positions, c.num_heads, c.head_k_dim);
    RetentionShape shape{1, T, c.num_heads, c.head_k_dim, c.head_v_dim};
    auto o = retention_parallel(q, k, v, shape);
    auto gated = rmsnorm_swish_gate(o, g, w(p(model::gate_norm_parameter(c))), eps);
    residual_add(h, matmul(gated, w(p("attn.o_proj.weight")), T, D, c.value_dim));
    auto m = rmsnorm(h, w(p("mlp_norm.weight")), eps);
    residual_add(h, feed_forward(m, w(p("mlp.gate_proj.weight")), w(p("mlp.up_proj.weight")),
                                 w(p("mlp.down_proj.weight")), T, D, I));
  }
  auto normed = rmsnorm(h, w("model.norm.weight"), eps);
  const auto& head = c.tie_word_embeddings ? w("model.embeddings.weight") : w("lm_head.weight");
  return matmul(normed, head, T, c.vocab_size, D);
}

}  // namespace retnet::reference
