#include "train/trainable_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <tuple>

#include "kernels/cross_entropy.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/embedding.hpp"
#include "kernels/matmul.hpp"
#include "kernels/retention.hpp"
#include "kernels/rmsnorm.hpp"
#include "kernels/rotary.hpp"
#include "kernels/swiglu.hpp"
#include "model/parameter_names.hpp"
#include "retnet/error.hpp"

namespace retnet::train {

namespace {

// The position of each row within its sequence (rotary's input).
std::vector<int32_t> row_positions(int64_t N, int64_t T) {
  std::vector<int32_t> positions(static_cast<size_t>(N * T));
  for (int64_t r = 0; r < N * T; ++r) positions[r] = int32_t(r % T);
  return positions;
}

}  // namespace

HostWeights initial_weights(const model::ModelConfig& config, uint64_t seed, double std) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, static_cast<float>(std));
  HostWeights w;
  for (const auto& spec : model::expected_parameters(config)) {
    std::vector<float> values(size_t(gpu::element_count(spec.shape)), 1.0f);
    if (!spec.is_norm_weight)
      for (auto& v : values) v = normal(rng);
    w[spec.name] = std::move(values);
  }
  return w;
}

// One layer's parameters and the activations its backward pass needs.
struct TrainableModel::Layer {
  Parameter *attn_norm, *q_proj, *k_proj, *v_proj, *g_proj, *g_norm, *o_proj;
  Parameter *mlp_norm, *gate_proj, *up_proj, *down_proj;
  // Saved by the forward: the layer's input, normed input, rotated q/k, v, g, retention
  // output, gated output, the residual stream after attention, the MLP's normed input,
  // gate, up and their SwiGLU.
  gpu::Tensor h_in, a, q, k, v, g, o, gated, h_mid, m, gate, up, ffn;
  gpu::Tensor qkv_maxima;  // max |q|, |k|, |v| from the forward, for the mixed-precision backward
  gpu::Tensor maxima;      // [kLayerMaxima] (LayerMaximum), mixed precision only
};

namespace {

// Slots of a layer's `maxima` in mixed precision: max |x| of tensors its scaled tensor-core
// products read, left by the kernels that write them (kernels/output_maxima.hpp), so that the
// products need no pass over them of their own. The forward's: the normed input (q/k/v/g's
// x), the MLP's normed input (gate/up's), the gated output (o_proj's) and the SwiGLU
// (down_proj's). The backward's: the residual gradient entering the layer (down_proj's dy,
// left by the layer above), the gradients of gate and up, the residual gradient after the MLP
// (o_proj's dy), of the retention output and the gate (d_o, dg) and of q and k before rotary.
// Pairs one kernel writes are adjacent.
enum LayerMaximum : uint32_t { kA, kM, kGated, kFfn, kDhDown, kDGate, kDUp, kDhO, kDO, kDG, kDQ, kDK, kLayerMaxima };

}  // namespace

// Scratch of one micro-batch shape.
struct TrainableModel::Activations {
  int64_t N = 0, T = 0;
  gpu::Tensor tokens, positions, targets, h_out, normed, state;
  gpu::Tensor embedding_grouping;  // the batch's positions grouped by token id (embedding_backward_grouped)
  gpu::Tensor dh, dx, dq, dk, dv, dg, d_o, dgated, dffn, d_normed, norm_scratch;
  // The loss head's chunk buffers (used when the rows do not fit one chunk of logits).
  int64_t chunk_rows = 0;
  gpu::Tensor logits, losses, chunk_x, chunk_dx, chunk_targets, chunk_losses;
  gpu::Tensor logit_maximum;  // [1]: max |gradient of a chunk's logits|, mixed precision only
};

TrainableModel::TrainableModel(Context& ctx, model::ModelConfig config, const HostWeights& weights,
                               bool f16_forward, int64_t chunk_size)
    : ctx_(ctx),
      config_(std::move(config)),
      chunk_size_(chunk_size),
      f16_retention_(f16_forward && ctx.active_paths().fp16 && ctx.active_paths().coopmat) {
  if (chunk_size_ < 1) throw Error("training: the chunk size must be at least 1");
  const auto specs = model::expected_parameters(config_);
  params_.reserve(specs.size());
  for (const auto& spec : specs) {
    auto it = weights.find(spec.name);
    if (it == weights.end()) throw Error(fmt::format("training: no initial value for parameter {}", spec.name));
    if (int64_t(it->second.size()) != gpu::element_count(spec.shape))
      throw Error(fmt::format("training: parameter {} has {} values, its shape needs {}", spec.name,
                              it->second.size(), gpu::element_count(spec.shape)));
    Parameter p;
    p.name = spec.name;
    p.decay = !spec.is_norm_weight;
    p.value = gpu::Tensor(ctx, spec.shape, gpu::DType::F32, spec.name);
    p.value.upload(it->second);
    for (auto* t : {&p.grad, &p.m, &p.v}) *t = gpu::Tensor(ctx, spec.shape, gpu::DType::F32, spec.name + ".state");
    // f16 copies serve the matmuls and the embedding; they need an even element count.
    if (f16_forward && ctx.active_paths().fp16 && !spec.is_norm_weight && gpu::element_count(spec.shape) % 2 == 0) {
      p.forward_copy = gpu::Tensor(ctx, spec.shape, gpu::DType::F16, spec.name + ".f16");
    }
    params_.push_back(std::move(p));
  }
  gpu::Stream s(ctx);
  for (auto& p : params_) {
    for (auto* t : {&p.grad, &p.m, &p.v}) s.fill_zero(*t);
    if (!p.forward_copy.empty()) kernels::cast_to_f16(s, p.value, p.forward_copy);
  }
  s.submit();

  embeddings_ = &param("model.embeddings.weight");
  final_norm_ = &param("model.norm.weight");
  lm_head_ = config_.tie_word_embeddings ? embeddings_ : &param("lm_head.weight");
  layers_.resize(size_t(config_.num_layers));
  for (int64_t l = 0; l < config_.num_layers; ++l) {
    auto p = [&](const char* name) { return &param(fmt::format("model.layers.{}.{}", l, name)); };
    Layer& L = layers_[l];
    L.attn_norm = p("attn_norm.weight");
    L.q_proj = p("attn.q_proj.weight");
    L.k_proj = p("attn.k_proj.weight");
    L.v_proj = p("attn.v_proj.weight");
    L.g_proj = p("attn.g_proj.weight");
    L.g_norm = p(model::gate_norm_parameter(config_));
    L.o_proj = p("attn.o_proj.weight");
    L.mlp_norm = p("mlp_norm.weight");
    L.gate_proj = p("mlp.gate_proj.weight");
    L.up_proj = p("mlp.up_proj.weight");
    L.down_proj = p("mlp.down_proj.weight");
  }
  norm_scratch_ = kernels::make_norm_scratch(ctx, params_.size());
  step_values_ = gpu::Tensor(ctx, {3}, gpu::DType::F32, "AdamW step values");
  act_ = std::make_unique<Activations>();
}

TrainableModel::~TrainableModel() = default;

void TrainableModel::set_logit_chunk_bytes(int64_t bytes) {
  if (bytes < 1) throw Error("training: the logit chunk must be at least 1 byte");
  logit_bytes_ = bytes;
  act_->N = act_->T = 0;  // rebuilt for the next batch
}

Parameter& TrainableModel::param(const std::string& name) {
  for (auto& p : params_)
    if (p.name == name) return p;
  throw Error(fmt::format("internal error: no parameter {}", name));
}

void TrainableModel::ensure_activations(int64_t N, int64_t T) {
  Activations& a = *act_;
  if (a.N == N && a.T == T) return;
  const auto& c = config_;
  const int64_t R = N * T, D = c.hidden_size;
  auto make = [&](std::vector<int64_t> shape, const char* name, gpu::DType dtype = gpu::DType::F32) {
    return gpu::Tensor(ctx_, std::move(shape), dtype, name);
  };
  for (auto& L : layers_) {
    L.h_in = make({R, D}, "h_in");
    L.a = make({R, D}, "a");
    L.q = make({N, T, c.num_heads, c.head_k_dim}, "q");
    L.k = make({N, T, c.num_heads, c.head_k_dim}, "k");
    L.v = make({N, T, c.num_heads, c.head_v_dim}, "v");
    L.g = make({R, c.value_dim}, "g");
    L.o = make({N, T, c.num_heads, c.head_v_dim}, "o");
    L.gated = make({R, c.value_dim}, "gated");
    L.h_mid = make({R, D}, "h_mid");
    L.m = make({R, D}, "m");
    L.gate = make({R, c.intermediate_size}, "gate");
    L.up = make({R, c.intermediate_size}, "up");
    L.ffn = make({R, c.intermediate_size}, "ffn");
    if (f16_retention_ && L.qkv_maxima.empty()) L.qkv_maxima = make({3}, "qkv maxima", gpu::DType::I32);
    if (f16_retention_ && L.maxima.empty()) L.maxima = make({kLayerMaxima}, "layer maxima", gpu::DType::I32);
  }
  a.tokens = make({R}, "tokens", gpu::DType::I32);
  a.positions = make({R}, "positions", gpu::DType::I32);
  a.targets = make({R}, "targets", gpu::DType::I32);
  a.h_out = make({R, D}, "h_out");
  a.normed = make({R, D}, "normed");
  if (f16_retention_) a.logit_maximum = make({1}, "logit gradient maximum", gpu::DType::I32);
  a.state = make({N, c.num_heads, c.head_k_dim, c.head_v_dim}, "state");
  // The forward's chunk states in one pass over every chunk where they take at most 4x the
  // default budget (256 MiB), not the default's several: one pass puts a layer's chunks on the
  // GPU at once (the small config's step on the H100: 91.1 -> 90.8 ms, 36 MiB more). Larger
  // sets keep the default budget: memory matters more there than a third of a millisecond.
  const int64_t chunks = (T + chunk_size_ - 1) / chunk_size_;
  const int64_t all_states = 4 * N * c.num_heads * chunks * c.head_k_dim * c.head_v_dim;
  const int64_t default_budget = kernels::RetentionChunkScratch{}.budget_bytes;
  retention_forward_scratch_.budget_bytes =
      all_states <= 4 * default_budget ? std::max(default_budget, all_states) : default_budget;
  a.dh = make({R, D}, "dh");
  a.dx = make({R, D}, "dx");
  a.dq = make({N, T, c.num_heads, c.head_k_dim}, "dq");
  a.dk = make({N, T, c.num_heads, c.head_k_dim}, "dk");
  a.dv = make({N, T, c.num_heads, c.head_v_dim}, "dv");
  a.d_o = make({N, T, c.num_heads, c.head_v_dim}, "d_o");
  a.dg = make({R, c.value_dim}, "dg");
  a.dgated = make({R, c.value_dim}, "dgated");
  a.dffn = make({R, c.intermediate_size}, "dffn");
  a.d_normed = make({R, D}, "d_normed");
  a.norm_scratch = make({std::max(kernels::norm_backward_scratch_size(R, D),
                                  kernels::norm_backward_scratch_size(R * c.num_heads, c.head_v_dim))},
                        "norm_scratch");
  a.chunk_rows = std::clamp<int64_t>(logit_bytes_ / (4 * c.vocab_size), 1, R);
  a.logits = make({a.chunk_rows, c.vocab_size}, "logits");
  a.losses = make({R}, "losses");
  if (a.chunk_rows < R) {
    a.chunk_x = make({a.chunk_rows, D}, "chunk_x");
    a.chunk_dx = make({a.chunk_rows, D}, "chunk_dx");
    a.chunk_targets = make({a.chunk_rows}, "chunk_targets", gpu::DType::I32);
    a.chunk_losses = make({a.chunk_rows}, "chunk_losses");
  }
  a.embedding_grouping = make({kernels::embedding_grouping_words(R)}, "embedding grouping", gpu::DType::I32);
  a.N = N;
  a.T = T;
}

void TrainableModel::check_batch(const std::vector<int32_t>& inputs, const std::vector<int32_t>& targets, int64_t N,
                                 int64_t T) const {
  const auto& c = config_;
  const int64_t R = N * T;
  if (N < 1 || T < 1 || int64_t(inputs.size()) != R || int64_t(targets.size()) != R)
    throw Error(fmt::format("training step of {} x {} tokens was given {} inputs and {} targets", N, T,
                            inputs.size(), targets.size()));
  kernels::check_token_ids(inputs, c.vocab_size);
  for (size_t i = 0; i < targets.size(); ++i)
    if (targets[i] >= c.vocab_size)
      throw Error(fmt::format("target token id {} at position {} is outside the vocabulary of {}", targets[i], i,
                              c.vocab_size));
}

void TrainableModel::record(gpu::Stream& s, const std::vector<int32_t>& inputs, const std::vector<int32_t>& targets,
                            int64_t N, int64_t T, float loss_scale, bool backward, std::vector<float>* losses) {
  check_batch(inputs, targets, N, T);
  // Other sizes may reallocate activations and scratch that a recorded step uses.
  if (N != recorded_.N || T != recorded_.T) recorded_.stale = true;
  ensure_activations(N, T);
  matmul_scratch_.begin();  // the previous batch was submitted (record's contract)
  Activations& a = *act_;
  const std::vector<int32_t> positions = row_positions(N, T);
  // In the stream, through its reused staging: no allocation or submit of their own per step.
  s.upload(a.tokens, inputs.data(), inputs.size() * sizeof(int32_t));
  s.upload(a.positions, positions.data(), positions.size() * sizeof(int32_t));
  s.upload(a.targets, targets.data(), targets.size() * sizeof(int32_t));
  if (backward) {
    std::vector<int32_t> grouping(size_t(kernels::embedding_grouping_words(N * T)));
    kernels::group_positions_by_id(inputs, config_.vocab_size, grouping.data());
    s.upload(a.embedding_grouping, grouping.data(), grouping.size() * sizeof(int32_t));
  }
  record_passes(s, loss_scale, backward, losses);
}

void TrainableModel::record_step(gpu::Stream& s, int64_t micro_batches, int64_t N, int64_t T, float loss_scale,
                                 const kernels::AdamWSettings& settings) {
  if (micro_batches < 1 || N < 1 || T < 1)
    throw Error(fmt::format("training step of {} micro-batches of {} x {} tokens: all must be positive",
                            micro_batches, N, T));
  kernels::adamw_step_values(settings, 1);  // the settings' checks, before anything is recorded
  // Commands already in the stream would be replayed with every step.
  if (s.sealed() || s.recording())
    throw Error("record_step: the stream already holds a recording (reset() it first)");
  recorded_ = RecordedStep{};
  ensure_activations(N, T);
  matmul_scratch_.begin();
  Activations& a = *act_;
  const size_t bytes = size_t(N * T) * sizeof(int32_t);
  const size_t grouping_bytes = size_t(kernels::embedding_grouping_words(N * T)) * sizeof(int32_t);
  record_zero_grads(s);
  const std::vector<int32_t> positions = row_positions(N, T);
  s.upload(a.positions, positions.data(), bytes);
  recorded_.losses.resize(size_t(micro_batches));  // read_back keeps pointers to them: sized first
  for (int64_t m = 0; m < micro_batches; ++m) {
    recorded_.inputs.push_back(static_cast<int32_t*>(s.host_input(a.tokens, bytes)));
    recorded_.targets.push_back(static_cast<int32_t*>(s.host_input(a.targets, bytes)));
    recorded_.grouping.push_back(static_cast<int32_t*>(s.host_input(a.embedding_grouping, grouping_bytes)));
    record_passes(s, loss_scale, true, &recorded_.losses[size_t(m)]);
  }
  recorded_.step_values =
      static_cast<kernels::AdamWStepValues*>(s.host_input(step_values_, sizeof(kernels::AdamWStepValues)));
  record_adamw(s, settings);
  s.seal();
  recorded_.settings = settings;
  recorded_.loss_scale = loss_scale;
  recorded_.micro_batches = micro_batches;
  recorded_.N = N;
  recorded_.T = T;
  recorded_.stream = &s;
}

void TrainableModel::run_recorded_step(gpu::Stream& s, const std::vector<int32_t>& inputs,
                                       const std::vector<int32_t>& targets, float lr, int64_t step,
                                       std::vector<float>* losses) {
  if (recorded_.stream != &s || !s.sealed())
    throw Error("run_recorded_step: this stream holds no step recorded by record_step");
  const int64_t M = recorded_.micro_batches, R = recorded_.N * recorded_.T;
  if (int64_t(inputs.size()) != M * R || int64_t(targets.size()) != M * R)
    throw Error(fmt::format("training step of {} micro-batches of {} x {} tokens was given {} inputs and {} targets",
                            M, recorded_.N, recorded_.T, inputs.size(), targets.size()));
  check_batch(inputs, targets, M * recorded_.N, recorded_.T);
  kernels::AdamWSettings settings = recorded_.settings;
  settings.lr = lr;
  const kernels::AdamWStepValues values = kernels::adamw_step_values(settings, step);
  if (recorded_.stale) {
    const RecordedStep old = recorded_;  // record_step starts recorded_ afresh
    s.reset();
    record_step(s, old.micro_batches, old.N, old.T, old.loss_scale, old.settings);
  }
  *recorded_.step_values = values;
  for (int64_t m = 0; m < M; ++m) {
    const std::vector<int32_t> batch(inputs.begin() + m * R, inputs.begin() + (m + 1) * R);
    std::copy(batch.begin(), batch.end(), recorded_.inputs[size_t(m)]);
    std::copy(targets.begin() + m * R, targets.begin() + (m + 1) * R, recorded_.targets[size_t(m)]);
    kernels::group_positions_by_id(batch, config_.vocab_size, recorded_.grouping[size_t(m)]);
  }
  s.replay();
  if (losses) {
    losses->clear();
    for (const auto& l : recorded_.losses) losses->insert(losses->end(), l.begin(), l.end());
  }
}

void TrainableModel::record_passes(gpu::Stream& s, float loss_scale, bool backward, std::vector<float>* losses) {
  const auto& c = config_;
  Activations& a = *act_;
  const int64_t N = a.N, T = a.T, R = N * T;
  const float eps = static_cast<float>(c.norm_eps);

  // In mixed precision the kernels leave the maxima the backward's products read (LayerMaximum):
  // `leave` says where a kernel puts them, `known` where a product finds them.
  const bool maxima = f16_retention_ && backward;
  auto leave = [&](Layer& L, uint32_t slot) { return kernels::OutputMaxima{&L.maxima, slot}; };
  auto or_none = [&](const kernels::OutputMaxima& m) { return maxima ? &m : nullptr; };
  auto known = [&](Layer& L, uint32_t slot) {
    return maxima ? kernels::OperandMaximum{&L.maxima, slot} : kernels::OperandMaximum{};
  };
  const auto path = kernels::ReductionPath::Auto;

  // Forward, keeping what the backward needs.
  kernels::embedding(s, a.tokens, embeddings_->forward(), layers_.empty() ? a.h_out : layers_[0].h_in);
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& L = layers_[l];
    gpu::Tensor& out = l + 1 < layers_.size() ? layers_[l + 1].h_in : a.h_out;
    if (maxima) s.fill_zero(L.maxima);
    kernels::rmsnorm(s, L.h_in, L.attn_norm->value, L.a, eps, path, or_none(leave(L, kA)));
    for (auto [w, y] : {std::pair{L.q_proj, &L.q}, {L.k_proj, &L.k}, {L.v_proj, &L.v}, {L.g_proj, &L.g}}) {
      const auto shape = y->shape();
      y->reshape({R, w->value.dim(0)});
      kernels::matmul(s, L.a, w->forward(), *y);
      y->reshape(shape);
    }
    for (gpu::Tensor* t : {&L.q, &L.k}) {
      t->reshape({R, c.num_heads, c.head_k_dim});
      kernels::rotary(s, *t, a.positions);
      t->reshape({N, T, c.num_heads, c.head_k_dim});
    }
    s.fill_zero(a.state);
    kernels::retention_chunkwise(s, L.q, L.k, L.v, a.state, L.o, chunk_size_, retention_forward_scratch_,
                                 f16_retention_, f16_retention_ && backward ? &L.qkv_maxima : nullptr);
    L.o.reshape({R, c.value_dim});
    kernels::rmsnorm_swish_gate(s, L.o, L.g, L.g_norm->value, L.gated, eps, path, or_none(leave(L, kGated)));
    L.o.reshape({N, T, c.num_heads, c.head_v_dim});
    s.copy(L.h_in, L.h_mid);
    kernels::matmul(s, L.gated, L.o_proj->forward(), L.h_mid, kernels::MatmulPath::Auto, true);
    kernels::rmsnorm(s, L.h_mid, L.mlp_norm->value, L.m, eps, path, or_none(leave(L, kM)));
    kernels::matmul(s, L.m, L.gate_proj->forward(), L.gate);
    kernels::matmul(s, L.m, L.up_proj->forward(), L.up);
    kernels::swiglu(s, L.gate, L.up, L.ffn, or_none(leave(L, kFfn)));
    s.copy(L.h_mid, out);
    kernels::matmul(s, L.ffn, L.down_proj->forward(), out, kernels::MatmulPath::Auto, true);
  }
  kernels::rmsnorm(s, a.h_out, final_norm_->value, a.normed, eps);
  record_lm_head_loss(s, loss_scale, backward);
  if (losses) s.read_back(a.losses, losses);
  if (!backward) return;

  // Backward: a.dh holds dLoss/d(residual stream) on the way down.
  // Each layer's dh_down (its down_proj's dy) is left by the norm backward just above it.
  kernels::rmsnorm_backward(s, a.h_out, final_norm_->value, a.d_normed, a.dh, final_norm_->grad, eps, a.norm_scratch,
                            false, path, layers_.empty() ? nullptr : or_none(leave(layers_.back(), kDhDown)));
  for (size_t l = layers_.size(); l-- > 0;) {
    Layer& L = layers_[l];
    // MLP: out = h_mid + swiglu(m Wg, m Wu) Wd with m = rmsnorm(h_mid).
    record_linear_backward(s, L.ffn, a.dh, *L.down_proj, a.dffn, false, known(L, kFfn), known(L, kDhDown));
    // gate, up become their gradients (maxima in kDGate, kDUp)
    static_assert(kDUp == kDGate + 1, "swiglu_backward leaves max |dgate| and max |dup| side by side");
    kernels::swiglu_backward(s, L.gate, L.up, a.dffn, L.gate, L.up, or_none(leave(L, kDGate)));
    const kernels::OperandMaximum m_maximum =
        record_linear_backward(s, L.m, L.gate, *L.gate_proj, a.dx, false, known(L, kM), known(L, kDGate));
    record_linear_backward(s, L.m, L.up, *L.up_proj, a.dx, true, m_maximum, known(L, kDUp));
    kernels::rmsnorm_backward(s, L.h_mid, L.mlp_norm->value, a.dx, a.dh, L.mlp_norm->grad, eps, a.norm_scratch, true,
                              path, or_none(leave(L, kDhO)));
    // Attention: h_mid = h_in + gated Wo, gated = rmsnorm(o) swish(g), o = retention(rot(q), rot(k), v).
    record_linear_backward(s, L.gated, a.dh, *L.o_proj, a.dgated, false, known(L, kGated), known(L, kDhO));
    L.o.reshape({R, c.value_dim});
    a.d_o.reshape({R, c.value_dim});
    static_assert(kDG == kDO + 1, "rmsnorm_swish_gate_backward leaves max |d_o| and max |dg| side by side");
    kernels::rmsnorm_swish_gate_backward(s, L.o, L.g, L.g_norm->value, a.dgated, a.d_o, a.dg, L.g_norm->grad, eps,
                                         a.norm_scratch, path, or_none(leave(L, kDO)));
    L.o.reshape({N, T, c.num_heads, c.head_v_dim});
    a.d_o.reshape({N, T, c.num_heads, c.head_v_dim});
    kernels::retention_chunkwise_backward(s, L.q, L.k, L.v, a.d_o, a.dq, a.dk, a.dv, chunk_size_, retention_scratch_,
                                          f16_retention_, f16_retention_ ? &L.qkv_maxima : nullptr, known(L, kDO));
    for (auto [t, slot] : {std::pair{&a.dq, kDQ}, {&a.dk, kDK}}) {
      t->reshape({R, c.num_heads, c.head_k_dim});
      kernels::rotary_backward(s, *t, a.positions, or_none(leave(L, slot)));
      t->reshape({R, c.key_dim});
    }
    a.dv.reshape({R, c.value_dim});
    bool first = true;
    // dv's maximum is not known: the product reduces it.
    for (auto [w, dy, dy_max] : {std::tuple{L.q_proj, &a.dq, known(L, kDQ)}, {L.k_proj, &a.dk, known(L, kDK)},
                                 {L.v_proj, &a.dv, kernels::OperandMaximum{}}, {L.g_proj, &a.dg, known(L, kDG)}}) {
      record_linear_backward(s, L.a, *dy, *w, a.dx, !first, known(L, kA), dy_max);
      first = false;
    }
    a.dq.reshape({N, T, c.num_heads, c.head_k_dim});
    a.dk.reshape({N, T, c.num_heads, c.head_k_dim});
    a.dv.reshape({N, T, c.num_heads, c.head_v_dim});
    kernels::rmsnorm_backward(s, L.h_in, L.attn_norm->value, a.dx, a.dh, L.attn_norm->grad, eps, a.norm_scratch, true,
                              path, l > 0 ? or_none(leave(layers_[l - 1], kDhDown)) : nullptr);
  }
  kernels::embedding_backward_grouped(s, a.embedding_grouping, a.dh, embeddings_->grad);
}

void TrainableModel::record_lm_head_loss(gpu::Stream& s, float loss_scale, bool backward) {
  Activations& a = *act_;
  const int64_t R = a.N * a.T, D = config_.hidden_size, V = config_.vocab_size;
  const gpu::Tensor& head = lm_head_->forward();
  // In mixed precision the loss leaves max |gradient| of each chunk's logits for the products.
  const bool maxima = f16_retention_ && backward;
  const kernels::OutputMaxima leave{&a.logit_maximum, 0};
  const kernels::OperandMaximum known = maxima ? kernels::OperandMaximum{&a.logit_maximum, 0} : kernels::OperandMaximum{};
  auto loss = [&](gpu::Tensor& logits, const gpu::Tensor& targets, gpu::Tensor& losses) {
    if (maxima) s.fill_zero(a.logit_maximum);
    kernels::cross_entropy(s, logits, targets, losses, loss_scale, backward, maxima ? &leave : nullptr);
  };
  if (a.chunk_rows >= R) {  // one chunk: no copies
    a.logits.reshape({R, V});
    kernels::matmul(s, a.normed, head, a.logits);
    loss(a.logits, a.targets, a.losses);
    if (!backward) return;
    record_linear_backward(s, a.normed, a.logits, *lm_head_, a.d_normed, false, {}, known);
    return;
  }
  // Row chunks, so at most chunk_rows x V logits exist (large vocabularies).
  for (int64_t r0 = 0; r0 < R; r0 += a.chunk_rows) {
    const int64_t rows = std::min(a.chunk_rows, R - r0);
    for (gpu::Tensor* t : {&a.chunk_x, &a.chunk_dx}) t->reshape({rows, D});
    a.chunk_targets.reshape({rows});
    a.chunk_losses.reshape({rows});
    a.logits.reshape({rows, V});
    s.copy_region(a.normed, size_t(r0 * D * 4), a.chunk_x, 0, size_t(rows * D * 4));
    s.copy_region(a.targets, size_t(r0 * 4), a.chunk_targets, 0, size_t(rows * 4));
    kernels::matmul(s, a.chunk_x, head, a.logits);
    loss(a.logits, a.chunk_targets, a.chunk_losses);
    s.copy_region(a.chunk_losses, 0, a.losses, size_t(r0 * 4), size_t(rows * 4));
    if (backward) {
      record_linear_backward(s, a.chunk_x, a.logits, *lm_head_, a.chunk_dx, false, {}, known);
      s.copy_region(a.chunk_dx, 0, a.d_normed, size_t(r0 * D * 4), size_t(rows * D * 4));
    }
  }
}

kernels::OperandMaximum TrainableModel::record_linear_backward(gpu::Stream& s, const gpu::Tensor& x,
                                                               const gpu::Tensor& dy, Parameter& w, gpu::Tensor& dx,
                                                               bool accumulate_dx, kernels::OperandMaximum x_maximum,
                                                               kernels::OperandMaximum dy_maximum) {
  return kernels::matmul_backward(s, x, dy, w.forward(), dx, w.grad,
                                  {accumulate_dx, true, backward_path(w), &matmul_scratch_, dy_maximum, x_maximum});
}

kernels::MatmulPath TrainableModel::backward_path(const Parameter& p) const {
  const bool f16 = !p.forward_copy.empty() && p.forward_copy.dtype() == gpu::DType::F16;
  return f16 && ctx_.active_paths().coopmat ? kernels::MatmulPath::CoopMat : kernels::MatmulPath::Tiled;
}

void TrainableModel::record_zero_grads(gpu::Stream& s) {
  for (auto& p : params_) s.fill_zero(p.grad);
}

void TrainableModel::record_optimizer_step(gpu::Stream& s, const kernels::AdamWSettings& settings, int64_t step) {
  const kernels::AdamWStepValues values = kernels::adamw_step_values(settings, step);
  s.upload(step_values_, &values, sizeof values);
  record_adamw(s, settings);
}

void TrainableModel::record_adamw(gpu::Stream& s, const kernels::AdamWSettings& settings) {
  std::vector<const gpu::Tensor*> grads;
  for (auto& p : params_) grads.push_back(&p.grad);
  kernels::grad_norm_squared(s, grads, norm_scratch_);
  for (auto& p : params_) {
    kernels::AdamWSettings st = settings;
    if (!p.decay) st.weight_decay = 0.0f;
    kernels::adamw_step(s, p.value, p.grad, p.m, p.v, norm_scratch_.result, step_values_, st,
                        p.forward_copy.empty() ? nullptr : &p.forward_copy);
  }
}

HostWeights TrainableModel::download(gpu::Tensor Parameter::*which) const {
  HostWeights out;
  for (const auto& p : params_) out[p.name] = (p.*which).download();
  return out;
}

void TrainableModel::upload(gpu::Tensor Parameter::*which, const HostWeights& values) {
  for (auto& p : params_) {
    auto it = values.find(p.name);
    if (it == values.end()) throw Error(fmt::format("no values for parameter {}", p.name));
    if (int64_t(it->second.size()) != p.value.numel())
      throw Error(fmt::format("parameter {}: {} values for {} elements", p.name, it->second.size(), p.value.numel()));
    (p.*which).upload(it->second);
  }
  if (which != &Parameter::value) return;
  // The f16 copies exactly as the optimizer would have written them (a resumed run must
  // compute what the uninterrupted one did).
  gpu::Stream s(ctx_);
  for (auto& p : params_)
    if (!p.forward_copy.empty()) kernels::cast_to_f16(s, p.value, p.forward_copy);
  s.submit();
}

}  // namespace retnet::train
