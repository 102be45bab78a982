#include "reference/model.hpp"

#include <fmt/format.h>

#include "model/parameter_names.hpp"
#include "reference/cross_entropy.hpp"
#include "reference/elementwise.hpp"
#include "reference/embedding.hpp"
#include "reference/matmul.hpp"
#include "reference/retention.hpp"
#include "reference/retention_backward.hpp"
#include "reference/rmsnorm.hpp"
#include "reference/rotary.hpp"
#include "reference/swiglu.hpp"
#include "retnet/error.hpp"

namespace retnet::reference {

namespace {

template <typename Real>
const std::vector<Real>& weight(const WeightsOf<Real>& weights, const std::string& name) {
  auto it = weights.find(name);
  if (it == weights.end()) throw Error(fmt::format("reference model: no weight '{}'", name));
  return it->second;
}

// One layer's activations, as the backward pass needs them.
template <typename Real>
struct SavedLayer {
  std::vector<Real> h_in, a, q, k, v, g, o, gated, h_mid, m, gate, up, ffn;
};

// The forward pass of one sequence from position 0, keeping every activation.
template <typename Real>
struct Forward {
  std::vector<SavedLayer<Real>> layers;
  std::vector<Real> h, normed, logits;  // final residual stream, its norm, logits [T, V]
};

template <typename Real>
Forward<Real> forward(const model::ModelConfig& c, const WeightsOf<Real>& weights, const std::vector<int32_t>& tokens) {
  auto w = [&](const std::string& name) -> const std::vector<Real>& { return weight(weights, name); };
  const int64_t T = int64_t(tokens.size()), D = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const double eps = c.norm_eps;
  std::vector<int32_t> positions(T);
  for (int64_t t = 0; t < T; ++t) positions[t] = int32_t(t);
  const RetentionShape shape{1, T, c.num_heads, c.head_k_dim, c.head_v_dim};
  Forward<Real> f;
  f.layers.resize(size_t(c.num_layers));
  std::vector<Real> h = embedding(tokens, w("model.embeddings.weight"), V, D);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    auto p = [&](const std::string& s) { return fmt::format("model.layers.{}.{}", l, s); };
    SavedLayer<Real>& S = f.layers[l];
    S.h_in = h;
    S.a = rmsnorm(h, w(p("attn_norm.weight")), eps);
    S.q = matmul(S.a, w(p("attn.q_proj.weight")), T, c.key_dim, D);
    S.k = matmul(S.a, w(p("attn.k_proj.weight")), T, c.key_dim, D);
    S.v = matmul(S.a, w(p("attn.v_proj.weight")), T, c.value_dim, D);
    S.g = matmul(S.a, w(p("attn.g_proj.weight")), T, c.value_dim, D);
    rotary(S.q, positions, c.num_heads, c.head_k_dim);
    rotary(S.k, positions, c.num_heads, c.head_k_dim);
    S.o = retention_parallel(S.q, S.k, S.v, shape);
    S.gated = rmsnorm_swish_gate(S.o, S.g, w(p(model::gate_norm_parameter(c))), eps);
    residual_add(h, matmul(S.gated, w(p("attn.o_proj.weight")), T, D, c.value_dim));
    S.h_mid = h;
    S.m = rmsnorm(h, w(p("mlp_norm.weight")), eps);
    S.gate = matmul(S.m, w(p("mlp.gate_proj.weight")), T, I, D);
    S.up = matmul(S.m, w(p("mlp.up_proj.weight")), T, I, D);
    S.ffn = swiglu(S.gate, S.up);
    residual_add(h, matmul(S.ffn, w(p("mlp.down_proj.weight")), T, D, I));
  }
  f.normed = rmsnorm(h, w("model.norm.weight"), eps);
  const auto& head = c.tie_word_embeddings ? w("model.embeddings.weight") : w("lm_head.weight");
  f.logits = matmul(f.normed, head, T, V, D);
  f.h = std::move(h);
  return f;
}

// One sequence's loss, adding its gradients into *grads.
template <typename Real>
double sequence_loss(const model::ModelConfig& c, const WeightsOf<Real>& weights, const std::vector<int32_t>& tokens,
                     const std::vector<int32_t>& targets, double loss_scale, WeightsOf<Real>* grads) {
  auto w = [&](const std::string& name) -> const std::vector<Real>& { return weight(weights, name); };
  auto add_grad = [&](const std::string& name, const std::vector<Real>& g) {
    auto& dst = (*grads)[name];
    if (dst.empty()) dst.assign(g.size(), Real(0));
    for (size_t i = 0; i < g.size(); ++i) dst[i] += g[i];
  };
  const int64_t T = int64_t(tokens.size()), D = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const double eps = c.norm_eps;
  std::vector<int32_t> positions(T);
  for (int64_t t = 0; t < T; ++t) positions[t] = int32_t(t);
  const RetentionShape shape{1, T, c.num_heads, c.head_k_dim, c.head_v_dim};
  const std::string gate_norm = model::gate_norm_parameter(c);
  const Forward<Real> f = forward(c, weights, tokens);
  const auto& h = f.h;
  const auto& normed = f.normed;
  const auto& logits = f.logits;
  const std::string head_name = c.tie_word_embeddings ? "model.embeddings.weight" : "lm_head.weight";
  double loss = 0;
  for (Real l : cross_entropy(logits, targets, V)) loss += double(l);
  if (!grads) return loss_scale * loss;

  const auto dlogits = cross_entropy_backward(logits, targets, V, loss_scale);
  add_grad(head_name, matmul_backward_weight(normed, dlogits, T, V, D));
  std::vector<Real> d_norm_w(size_t(D), Real(0));
  std::vector<Real> dh = rmsnorm_backward(h, w("model.norm.weight"), matmul_backward_input(dlogits, w(head_name), T, V, D),
                                          eps, d_norm_w);
  add_grad("model.norm.weight", d_norm_w);
  for (int64_t l = c.num_layers - 1; l >= 0; --l) {
    auto p = [&](const std::string& s) { return fmt::format("model.layers.{}.{}", l, s); };
    const SavedLayer<Real>& S = f.layers[l];
    // MLP.
    add_grad(p("mlp.down_proj.weight"), matmul_backward_weight(S.ffn, dh, T, D, I));
    std::vector<Real> dgate, dup;
    swiglu_backward(S.gate, S.up, matmul_backward_input(dh, w(p("mlp.down_proj.weight")), T, D, I), dgate, dup);
    add_grad(p("mlp.gate_proj.weight"), matmul_backward_weight(S.m, dgate, T, I, D));
    add_grad(p("mlp.up_proj.weight"), matmul_backward_weight(S.m, dup, T, I, D));
    auto dm = matmul_backward_input(dgate, w(p("mlp.gate_proj.weight")), T, I, D);
    residual_add(dm, matmul_backward_input(dup, w(p("mlp.up_proj.weight")), T, I, D));
    std::vector<Real> dw(size_t(D), Real(0));
    residual_add(dh, rmsnorm_backward(S.h_mid, w(p("mlp_norm.weight")), dm, eps, dw));
    add_grad(p("mlp_norm.weight"), dw);
    // Attention.
    add_grad(p("attn.o_proj.weight"), matmul_backward_weight(S.gated, dh, T, D, c.value_dim));
    const auto dgated = matmul_backward_input(dh, w(p("attn.o_proj.weight")), T, D, c.value_dim);
    std::vector<Real> dg, dgn(size_t(c.head_v_dim), Real(0));
    const auto d_o = rmsnorm_swish_gate_backward(S.o, S.g, w(p(gate_norm)), dgated, eps, dg, dgn);
    add_grad(p(gate_norm), dgn);
    std::vector<Real> dq, dk, dv;
    retention_backward(S.q, S.k, S.v, d_o, shape, dq, dk, dv);
    rotary_backward(dq, positions, c.num_heads, c.head_k_dim);
    rotary_backward(dk, positions, c.num_heads, c.head_k_dim);
    std::vector<Real> da(size_t(T * D), Real(0));
    const std::pair<const char*, const std::vector<Real>*> projections[] = {
        {"attn.q_proj.weight", &dq}, {"attn.k_proj.weight", &dk}, {"attn.v_proj.weight", &dv}, {"attn.g_proj.weight", &dg}};
    for (auto [name, dy] : projections) {
      const int64_t out = int64_t(dy->size()) / T;
      add_grad(p(name), matmul_backward_weight(S.a, *dy, T, out, D));
      residual_add(da, matmul_backward_input(*dy, w(p(name)), T, out, D));
    }
    std::vector<Real> dwa(size_t(D), Real(0));
    residual_add(dh, rmsnorm_backward(S.h_in, w(p("attn_norm.weight")), da, eps, dwa));
    add_grad(p("attn_norm.weight"), dwa);
  }
  add_grad("model.embeddings.weight", embedding_backward(tokens, dh, V, D));
  return loss_scale * loss;
}

}  // namespace

std::vector<float> model_forward(const model::ModelConfig& config, const Weights& weights,
                                 const std::vector<int32_t>& tokens) {
  return forward(config, weights, tokens).logits;
}

template <typename Real>
double model_loss(const model::ModelConfig& config, const WeightsOf<Real>& weights, const std::vector<int32_t>& inputs,
                  const std::vector<int32_t>& targets, int64_t N, int64_t T, double loss_scale,
                  WeightsOf<Real>* grads) {
  if (N < 1 || T < 1 || int64_t(inputs.size()) != N * T || int64_t(targets.size()) != N * T)
    throw Error("reference model_loss: inputs and targets must hold N * T ids");
  if (grads) {
    grads->clear();
    for (const auto& [name, values] : weights) (*grads)[name].assign(values.size(), Real(0));
  }
  double loss = 0;
  for (int64_t n = 0; n < N; ++n) {
    const std::vector<int32_t> seq(inputs.begin() + n * T, inputs.begin() + (n + 1) * T);
    const std::vector<int32_t> tgt(targets.begin() + n * T, targets.begin() + (n + 1) * T);
    loss += sequence_loss(config, weights, seq, tgt, loss_scale, grads);
  }
  return loss;
}

template double model_loss(const model::ModelConfig&, const WeightsOf<float>&, const std::vector<int32_t>&,
                           const std::vector<int32_t>&, int64_t, int64_t, double, WeightsOf<float>*);
template double model_loss(const model::ModelConfig&, const WeightsOf<double>&, const std::vector<int32_t>&,
                           const std::vector<int32_t>&, int64_t, int64_t, double, WeightsOf<double>*);

}  // namespace retnet::reference
