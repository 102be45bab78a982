#include "model/model_impl.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "kernels/decode.hpp"
#include "kernels/decode_layer.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/embedding.hpp"
#include "kernels/matmul.hpp"
#include "kernels/retention.hpp"
#include "kernels/rmsnorm.hpp"
#include "kernels/rotary.hpp"
#include "kernels/swiglu.hpp"
#include "model/parameter_names.hpp"
#include "model/safetensors.hpp"
#include "retnet/error.hpp"

namespace retnet::model {

namespace {

// fla's parameter names inside model.layers.{i}., and where each lives.
const std::pair<const char*, gpu::Tensor LayerWeights::*> kLayerParameters[] = {
    {"attn_norm.weight", &LayerWeights::attn_norm},
    {"attn.q_proj.weight", &LayerWeights::q_proj},
    {"attn.k_proj.weight", &LayerWeights::k_proj},
    {"attn.v_proj.weight", &LayerWeights::v_proj},
    {"attn.g_proj.weight", &LayerWeights::g_proj},
    {"attn.g_norm_swish_gate.weight", &LayerWeights::g_norm},
    {"attn.o_proj.weight", &LayerWeights::o_proj},
    {"mlp_norm.weight", &LayerWeights::mlp_norm},
    {"mlp.gate_proj.weight", &LayerWeights::gate_proj},
    {"mlp.up_proj.weight", &LayerWeights::up_proj},
    {"mlp.down_proj.weight", &LayerWeights::down_proj},
};

kernels::DecodeLayerShape decode_layer_shape(const ModelConfig& c) {
  return {c.hidden_size, c.num_heads, c.head_k_dim, c.head_v_dim, c.intermediate_size};
}

gpu::Tensor load_parameter(Context& ctx, const CheckpointReader& reader, const ParameterSpec& spec,
                           gpu::DType dtype) {
  gpu::Tensor t(ctx, spec.shape, dtype, spec.name);
  if (dtype == gpu::DType::F16) {
    auto values = reader.read_f16(spec.name);
    t.upload_bytes(values.data(), values.size() * 2);
  } else {
    t.upload(reader.read_f32(spec.name));
  }
  return t;
}

}  // namespace

ModelImpl::ModelImpl(Context& c, const std::string& folder, const LoadOptions& opts)
    : ctx(c), config(ModelConfig::load(folder)), options(opts) {
  if (options.chunk_size < 1) throw Error("LoadOptions.chunk_size must be at least 1");
  if (options.max_prefill_tokens < 1) throw Error("LoadOptions.max_prefill_tokens must be at least 1");
  CheckpointReader reader(folder);
  check_checkpoint(reader, config);
  weight_dtype = (options.prefer_f16 && ctx.active_paths().fp16) ? gpu::DType::F16 : gpu::DType::F32;

  uint64_t bytes_before = ctx.allocated_bytes();
  for (const ParameterSpec& spec : expected_parameters(config)) {
    info.parameter_count += gpu::element_count(spec.shape);
  }
  // Matrices in the chosen dtype; norm weights always f32 (they are tiny and precision-critical).
  auto load = [&](const std::string& name) {
    for (const ParameterSpec& spec : expected_parameters(config))
      if (spec.name == name)
        return load_parameter(ctx, reader, spec, spec.is_norm_weight ? gpu::DType::F32 : weight_dtype);
    throw Error(fmt::format("internal error: no parameter named {}", name));
  };
  embeddings = load("model.embeddings.weight");
  final_norm = load("model.norm.weight");
  if (config.tie_word_embeddings) {
    lm_head = &embeddings;
  } else {
    lm_head_untied = load("lm_head.weight");
    lm_head = &lm_head_untied;
  }
  for (int64_t i = 0; i < config.num_layers; ++i) {
    LayerWeights w;
    for (const auto& [name, member] : kLayerParameters) w.*member = load(layer_parameter_name(i, name));
    layers.push_back(std::move(w));
  }
  tokenizer = text::load_tokenizer(folder, config.vocab_size);

  info.hidden_size = config.hidden_size;
  info.num_layers = config.num_layers;
  info.num_heads = config.num_heads;
  info.vocab_size = config.vocab_size;
  info.head_k_dim = config.head_k_dim;
  info.head_v_dim = config.head_v_dim;
  info.intermediate_size = config.intermediate_size;
  info.weight_bytes = ctx.allocated_bytes() - bytes_before;
  info.weight_dtype = gpu::dtype_name(weight_dtype);
  const ModelConfig& cfg = config;
  retention_decode_ = kernels::retention_decode_supported(ctx, cfg.head_k_dim, cfg.head_v_dim);
  retention_decode_states_ = kernels::retention_decode_states_supported(ctx, cfg.head_k_dim, cfg.head_v_dim);
  // The lm_head takes the hidden state like q/k/v/g and gate/up do: one check serves all three.
  fused_lm_head_ = kernels::decode_matvec_supported(ctx, cfg.hidden_size, 0, true, weight_dtype);
  fused_decode_ = retention_decode_ && fused_lm_head_ &&
                  kernels::decode_matvec_supported(ctx, cfg.value_dim, cfg.head_v_dim, true, weight_dtype) &&
                  kernels::decode_matvec_supported(ctx, cfg.intermediate_size, 0, false, weight_dtype);
  const int64_t workgroups = options.decode_workgroups == 0 ? kernels::decode_layer_workgroups(ctx)
                                                            : std::max<int64_t>(options.decode_workgroups, 0);
  if (workgroups > int64_t(gpu::kMaxGroupsPerDimension))
    throw Error(fmt::format("LoadOptions::decode_workgroups: {} is more than a dispatch can have", workgroups));
  if (fused_decode_ && workgroups > 0 &&
      kernels::decode_layer_supported(ctx, decode_layer_shape(cfg), weight_dtype,
                                      static_cast<uint32_t>(workgroups))) {
    decode_layer_workgroups_ = static_cast<uint32_t>(workgroups);
    decode_sync_ = gpu::Tensor(ctx, {kernels::decode_layer_sync_words(cfg.num_layers)}, gpu::DType::F32,
                               "decode sync words");
  }
  info.state_bytes_per_session =
      uint64_t(config.num_layers * config.num_heads * config.head_k_dim * config.head_v_dim) * 4;
}

std::vector<gpu::Tensor> ModelImpl::new_states(int64_t batch, const std::string& name) const {
  std::vector<gpu::Tensor> states;
  gpu::Stream s(ctx);
  for (int64_t i = 0; i < config.num_layers; ++i) {
    states.emplace_back(ctx, std::vector<int64_t>{batch, config.num_heads, config.head_k_dim, config.head_v_dim},
                        gpu::DType::F32, fmt::format("{} state layer {}", name, i));
    s.fill_zero(states.back());
  }
  s.submit();
  return states;
}

std::vector<gpu::Tensor>& ModelImpl::batch_states(int64_t N) const {
  if (batch_states_.empty() || batch_states_[0].capacity() < N * config.num_heads * config.head_k_dim * config.head_v_dim) {
    batch_states_ = new_states(N, "batch");
    ++activations_generation_;  // a recorded batched step used the old ones
  }
  for (auto& t : batch_states_) t.reshape({N, config.num_heads, config.head_k_dim, config.head_v_dim});
  return batch_states_;
}

void ModelImpl::check_tokens(const std::vector<int32_t>& tokens) const {
  kernels::check_token_ids(tokens, config.vocab_size);
}

void ModelImpl::ensure_activations(int64_t rows, int64_t logit_rows) const {
  const auto& c = config;
  auto make = [&](gpu::Tensor& t, int64_t n_rows, int64_t cols, gpu::DType dtype, const char* name) {
    t = gpu::Tensor(ctx, {n_rows, cols}, dtype, name);
  };
  if (rows > act_.rows || logit_rows > act_.logit_rows) ++activations_generation_;  // recordings go stale
  if (rows > act_.rows) {
    act_.rows = rows;
    act_.tokens = gpu::Tensor(ctx, {rows}, gpu::DType::I32, "tokens");
    act_.positions = gpu::Tensor(ctx, {rows}, gpu::DType::I32, "positions");
    make(act_.h, rows, c.hidden_size, gpu::DType::F32, "hidden");
    make(act_.a, rows, c.hidden_size, gpu::DType::F32, "normed");
    make(act_.q, rows, c.key_dim, gpu::DType::F32, "q");
    make(act_.k, rows, c.key_dim, gpu::DType::F32, "k");
    make(act_.v, rows, c.value_dim, gpu::DType::F32, "v");
    make(act_.g, rows, c.value_dim, gpu::DType::F32, "g");
    make(act_.o, rows, c.value_dim, gpu::DType::F32, "o");
    make(act_.gated, rows, c.value_dim, gpu::DType::F32, "gated");
    make(act_.gate, rows, c.intermediate_size, gpu::DType::F32, "mlp_gate");
    make(act_.up, rows, c.intermediate_size, gpu::DType::F32, "mlp_up");
    make(act_.ffn, rows, c.intermediate_size, gpu::DType::F32, "mlp_act");
  }
  if (logit_rows > act_.logit_rows) {
    act_.logit_rows = logit_rows;
    make(act_.last, logit_rows, c.hidden_size, gpu::DType::F32, "last_hidden");
    make(act_.logits, logit_rows, c.vocab_size, gpu::DType::F32, "logits");
  }
}

// Views every scratch activation as `rows` rows (the buffers hold at least that many).
void ModelImpl::view_activations(int64_t rows) const {
  const auto& c = config;
  auto& a = act_;
  auto view2 = [&](gpu::Tensor& t, int64_t cols) { t.reshape({rows, cols}); };
  for (gpu::Tensor* t : {&a.h, &a.a}) view2(*t, c.hidden_size);
  for (gpu::Tensor* t : {&a.q, &a.k}) view2(*t, c.key_dim);
  for (gpu::Tensor* t : {&a.v, &a.g, &a.o, &a.gated}) view2(*t, c.value_dim);
  for (gpu::Tensor* t : {&a.gate, &a.up, &a.ffn}) view2(*t, c.intermediate_size);
  a.tokens.reshape({rows});
  a.positions.reshape({rows});
}

void ModelImpl::check_step(int64_t N, int64_t T, RetentionForm form, const StepStates& states) const {
  if (N * T == 0) throw Error("forward step with no tokens");
  if (form == RetentionForm::Parallel) return;
  auto one_per_layer = [&](const std::vector<gpu::Tensor>* layers) {
    return layers && static_cast<int64_t>(layers->size()) == config.num_layers;
  };
  if (states.sequences.empty()) {
    if (!one_per_layer(states.batch)) throw Error("the chunkwise and recurrent forms need one state per layer");
    return;
  }
  if (states.batch || T != 1 || !decodes_sequence_states() || static_cast<int64_t>(states.sequences.size()) != N)
    throw Error("internal error: each sequence's own states are for a decode step through retention_decode_states");
  for (const auto* layers : states.sequences)
    if (!one_per_layer(layers)) throw Error("the recurrent form needs one state per layer of each sequence");
}

void ModelImpl::record_step(gpu::Stream& s, const std::vector<int32_t>& tokens,
                            const std::vector<int32_t>& positions, int64_t N, int64_t T, RetentionForm form,
                            std::vector<gpu::Tensor>* states, bool all_logits) const {
  const int64_t rows = N * T;
  if (static_cast<int64_t>(tokens.size()) != rows || static_cast<int64_t>(positions.size()) != rows)
    throw Error(fmt::format("forward step of {}x{} tokens was given {} tokens and {} positions", N, T,
                            tokens.size(), positions.size()));
  check_step(N, T, form, {states});
  check_tokens(tokens);
  ensure_activations(rows, all_logits ? rows : N);
  view_activations(rows);
  auto& a = act_;
  // Small inputs travel inside the command buffer; a long prompt takes a separate upload.
  if (rows * 4 <= 65536) {
    s.update(a.tokens, tokens.data(), rows * 4);
    s.update(a.positions, positions.data(), rows * 4);
  } else {
    a.tokens.upload(tokens);
    a.positions.upload(positions);
  }
  record_compute(s, N, T, form, {states}, all_logits);
}

ModelImpl::StepInputs ModelImpl::record_replayable_step(gpu::Stream& s, const StepStates& states, int64_t N,
                                                        int64_t T, bool session_decode) const {
  if (session_decode && (N * T != 1 || !states.batch))
    throw Error("internal error: a session's decode step has one token and the session's states");
  const RetentionForm form = T == 1 ? RetentionForm::Recurrent : RetentionForm::Chunkwise;
  check_step(N, T, form, states);
  ensure_activations(N * T, N);
  view_activations(N * T);
  StepInputs in;
  in.tokens = static_cast<int32_t*>(s.host_input(act_.tokens, N * T * 4));
  in.positions = static_cast<int32_t*>(s.host_input(act_.positions, N * T * 4));
  in.checks_sync = session_decode && decode_layer_workgroups_ != 0;
  record_compute(s, N, T, form, states, false, in.checks_sync);
  in.generation = activations_generation();  // after record_compute, which may grow the matmul scratch
  return in;
}

void ModelImpl::stop_decode_layer() const {
  decode_layer_workgroups_ = 0;
  ++activations_generation_;  // recorded decode steps go stale
}

void ModelImpl::force_batch_state_copies() const {
  batch_state_copies_ = true;
  ++activations_generation_;
}

void ModelImpl::set_decode_sync_shortfall(uint32_t workgroups) const {
  decode_sync_shortfall_ = workgroups;
  ++activations_generation_;
}

void ModelImpl::record_compute(gpu::Stream& s, int64_t N, int64_t T, RetentionForm form,
                               const StepStates& states, bool all_logits, bool persistent_layers) const {
  const auto& c = config;
  const int64_t rows = N * T;
  const int64_t logit_rows = all_logits ? rows : N;
  const float eps = static_cast<float>(c.norm_eps);
  // One token with a state: rotary and the retention step run as one kernel.
  const bool decode_retention = T == 1 && form != RetentionForm::Parallel && retention_decode_;
  auto& a = act_;
  auto view2 = [&](gpu::Tensor& t, int64_t cols) { t.reshape({rows, cols}); };

  auto* scratch = &matmul_scratch_;
  // Layer l's state of the whole step (check_step let per-sequence states through only to
  // retention_decode_states below).
  auto state = [&](int64_t l) -> gpu::Tensor& { return (*states.batch)[l]; };
  kernels::embedding(s, a.tokens, embeddings, a.h);
  if (persistent_layers) s.fill_zero(decode_sync_);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& w = layers[l];
    if (persistent_layers) {
      kernels::decode_layer(s, decode_layer_shape(c),
                            {&w.attn_norm, &w.q_proj, &w.k_proj, &w.v_proj, &w.g_proj, &w.g_norm, &w.o_proj,
                             &w.mlp_norm, &w.gate_proj, &w.up_proj, &w.down_proj},
                            {&a.h, &a.q, &a.k, &a.v, &a.g, &a.o, &a.ffn}, a.positions, state(l), decode_sync_,
                            {decode_layer_workgroups_, static_cast<uint32_t>(l), eps, decode_sync_shortfall_});
      continue;
    }
    if (rows == 1 && decode_retention && fused_decode_ && states.sequences.empty()) {
      record_fused_decode_layer(s, w, state(l));
      continue;
    }
    kernels::rmsnorm(s, a.h, w.attn_norm, a.a, eps);
    const auto path = kernels::MatmulPath::Auto;
    kernels::matmul(s, a.a, w.q_proj, a.q, path, false, scratch);
    kernels::matmul(s, a.a, w.k_proj, a.k, path, false, scratch);
    kernels::matmul(s, a.a, w.v_proj, a.v, path, false, scratch);
    kernels::matmul(s, a.a, w.g_proj, a.g, path, false, scratch);
    if (!decode_retention) {
      a.q.reshape({rows, c.num_heads, c.head_k_dim});
      a.k.reshape({rows, c.num_heads, c.head_k_dim});
      kernels::rotary(s, a.q, a.positions);
      kernels::rotary(s, a.k, a.positions);
    }
    a.q.reshape({N, T, c.num_heads, c.head_k_dim});
    a.k.reshape({N, T, c.num_heads, c.head_k_dim});
    a.v.reshape({N, T, c.num_heads, c.head_v_dim});
    a.o.reshape({N, T, c.num_heads, c.head_v_dim});
    if (decode_retention) {
      if (states.sequences.empty())
        kernels::retention_decode(s, a.q, a.k, a.v, a.positions, state(l), a.o);
      else {
        std::vector<gpu::Tensor*> own(N);
        for (int64_t n = 0; n < N; ++n) own[n] = &(*states.sequences[n])[l];
        kernels::retention_decode_states(s, a.q, a.k, a.v, a.positions, own, a.o);
      }
    } else {
      switch (form) {
        case RetentionForm::Parallel: kernels::retention_parallel(s, a.q, a.k, a.v, a.o); break;
        case RetentionForm::Chunkwise:
          // A model of f16 weights takes f16 products here too, as its tensor-core matmuls do.
          kernels::retention_chunkwise(s, a.q, a.k, a.v, state(l), a.o, options.chunk_size, a.retention,
                                       weight_dtype == gpu::DType::F16);
          break;
        case RetentionForm::Recurrent: kernels::retention_recurrent(s, a.q, a.k, a.v, state(l), a.o); break;
      }
    }
    view2(a.q, c.key_dim);
    view2(a.k, c.key_dim);
    view2(a.v, c.value_dim);
    view2(a.o, c.value_dim);
    kernels::rmsnorm_swish_gate(s, a.o, a.g, w.g_norm, a.gated, eps);
    // Projections add straight into the residual stream (one dispatch, no scratch round trip).
    kernels::matmul(s, a.gated, w.o_proj, a.h, path, true, scratch);

    kernels::rmsnorm(s, a.h, w.mlp_norm, a.a, eps);
    kernels::matmul(s, a.a, w.gate_proj, a.gate, path, false, scratch);
    kernels::matmul(s, a.a, w.up_proj, a.up, path, false, scratch);
    kernels::swiglu(s, a.gate, a.up, a.ffn);
    kernels::matmul(s, a.ffn, w.down_proj, a.h, path, true, scratch);
  }

  a.logits.reshape({logit_rows, c.vocab_size});
  if (all_logits) {
    kernels::rmsnorm(s, a.h, final_norm, a.a, eps);
    kernels::matmul(s, a.a, *lm_head, a.logits);
    return;
  }
  // Only the last position of each sequence is sampled from: the final norm and lm_head
  // skip the other rows.
  const gpu::Tensor* last = &a.h;
  if (T > 1) {
    a.last.reshape({N, c.hidden_size});
    const size_t row_bytes = c.hidden_size * 4;
    for (int64_t n = 0; n < N; ++n)
      s.copy_region(a.h, ((n + 1) * T - 1) * row_bytes, a.last, n * row_bytes, row_bytes, true);
    last = &a.last;
  }
  if (N == 1 && fused_lm_head_) {
    kernels::decode_matvec(s, {last, &final_norm, nullptr, 0, eps}, {{lm_head, &a.logits}}, false);
  } else {
    a.a.reshape({N, c.hidden_size});
    kernels::rmsnorm(s, *last, final_norm, a.a, eps);
    kernels::matmul(s, a.a, *lm_head, a.logits, kernels::MatmulPath::Auto, false, scratch);
  }
}

void ModelImpl::record_fused_decode_layer(gpu::Stream& s, const LayerWeights& w, gpu::Tensor& state) const {
  const auto& c = config;
  const float eps = static_cast<float>(c.norm_eps);
  auto& a = act_;
  kernels::decode_matvec(s, {&a.h, &w.attn_norm, nullptr, 0, eps},
                         {{&w.q_proj, &a.q}, {&w.k_proj, &a.k}, {&w.v_proj, &a.v}, {&w.g_proj, &a.g}}, false);
  a.q.reshape({1, 1, c.num_heads, c.head_k_dim});
  a.k.reshape({1, 1, c.num_heads, c.head_k_dim});
  a.v.reshape({1, 1, c.num_heads, c.head_v_dim});
  a.o.reshape({1, 1, c.num_heads, c.head_v_dim});
  kernels::retention_decode(s, a.q, a.k, a.v, a.positions, state, a.o);
  kernels::decode_matvec(s, {&a.o, &w.g_norm, &a.g, c.head_v_dim, eps}, {{&w.o_proj, &a.h}}, true);
  kernels::decode_matvec_swiglu(s, {&a.h, &w.mlp_norm, nullptr, 0, eps}, w.gate_proj, w.up_proj, a.ffn);
  kernels::decode_matvec(s, {&a.ffn}, {{&w.down_proj, &a.h}}, true);
}

std::string ModelImpl::layer_parameter_name(int64_t layer, const std::string& name) const {
  const std::string& suffix = name == "attn.g_norm_swish_gate.weight" ? gate_norm_parameter(config) : name;
  return fmt::format("model.layers.{}.{}", layer, suffix);
}

std::vector<std::pair<std::string, const gpu::Tensor*>> ModelImpl::named_parameters() const {
  std::vector<std::pair<std::string, const gpu::Tensor*>> out;
  out.emplace_back("model.embeddings.weight", &embeddings);
  for (int64_t i = 0; i < config.num_layers; ++i)
    for (const auto& [name, member] : kLayerParameters)
      out.emplace_back(layer_parameter_name(i, name), &(layers[i].*member));
  out.emplace_back("model.norm.weight", &final_norm);
  if (!config.tie_word_embeddings) out.emplace_back("lm_head.weight", lm_head);
  return out;
}

void ModelImpl::save(const std::string& folder) const {
  std::filesystem::create_directories(folder);
  std::vector<NamedTensor> tensors;
  for (const auto& [name, t] : named_parameters()) {
    NamedTensor nt;
    nt.name = name;
    nt.shape = t->shape();
    nt.dtype = t->dtype() == gpu::DType::F16 ? TensorDType::F16 : TensorDType::F32;
    nt.data.resize(t->bytes());
    t->download_bytes(nt.data.data(), nt.data.size());
    tensors.push_back(std::move(nt));
  }
  write_safetensors(folder + "/model.safetensors", tensors, {{"format", "pt"}});
  config.save(folder);
}

}  // namespace retnet::model
