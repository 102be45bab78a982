#include "kernels/decode_layer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "kernels/checks.hpp"
#include "kernels/decode.hpp"
#include "kernels/rotary.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

namespace {

constexpr uint32_t kMaxStateRows = 16;  // state vec4s per thread (registers)

// A positive integer from the environment, else `fallback` (tuning for experiments).
uint32_t env_count(const char* name, uint32_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < 1 || n > 1 << 20) throw Error(fmt::format("{}={} is not a positive count", name, v));
  return static_cast<uint32_t>(n);
}

struct Plan {
  uint32_t threads, cq, rg, dpt, prefetch, x_vecs;
  uint64_t shared_bytes;
};

Plan plan(const Context& ctx, const DecodeLayerShape& c, gpu::DType weight_dtype, uint32_t workgroups) {
  const auto& dev = ctx.device();
  Plan p{};
  // A power of two (the retention phase's CQ x RG), 512 by default: one workgroup per
  // compute unit needs many subgroups to keep enough loads in flight.
  uint32_t limit = std::min(env_count("RETNET_DECODE_THREADS", 512), dev.max_workgroup_invocations);
  p.threads = 1;
  while (p.threads * 2 <= limit) p.threads *= 2;
  // The retention phase: column blocks as wide as it takes for one unit per workgroup.
  const int64_t quads = c.head_v_dim / 4;
  auto units = [&](uint32_t cq) { return c.heads * ((quads + cq - 1) / cq); };
  p.cq = 1;
  while (units(p.cq) > std::max<uint32_t>(workgroups, 1) && p.cq < quads && p.cq * 2 <= p.threads) p.cq *= 2;
  p.rg = p.threads / p.cq;
  p.dpt = static_cast<uint32_t>((c.head_k_dim + p.rg - 1) / p.rg);
  const uint32_t sg = std::max<uint32_t>(dev.subgroup_size, 1);
  // Four pieces per lane: on the H100, 1.3b decode took 1.66 ms with 4, 1.74-1.78 with 2, 3
  // or 5, 1.86 with 8 (presumably registers: gate and up rows are both prefetched across a sync).
  p.prefetch = env_count("RETNET_DECODE_PREFETCH",
                         std::clamp<uint32_t>(gpu::div_up(c.hidden / decode_piece_elements(weight_dtype), sg), 1, 4));
  p.x_vecs = static_cast<uint32_t>(std::max({c.hidden, c.heads * c.head_v_dim, c.intermediate}) / 4);
  // xs + sq (20 bytes a vec4), the group scales, qs + ks, the partial sums, sync_ok.
  p.shared_bytes = uint64_t(p.x_vecs) * 20 + kDecodeMaxNormGroups * 4 + 2ull * p.dpt * p.rg * 4 +
                   uint64_t(p.threads) * 16 + 4;
  return p;
}

}  // namespace

uint32_t decode_layer_workgroups(const Context& ctx) {
  return env_count("RETNET_DECODE_WORKGROUPS", ctx.device().compute_units);
}

uint32_t decode_layers_per_dispatch(uint32_t layers) {
  return std::min(env_count("RETNET_DECODE_LAYERS", std::max<uint32_t>(layers, 1)), std::max<uint32_t>(layers, 1));
}

bool decode_layer_supported(const Context& ctx, const DecodeLayerShape& c, gpu::DType weight_dtype,
                            uint32_t workgroups) {
  const auto& dev = ctx.device();
  if (!ctx.active_paths().subgroups || !dev.subgroup_arithmetic || dev.subgroup_size < 4) return false;
  if (weight_dtype == gpu::DType::F16 && !ctx.active_paths().fp16) return false;
  const int64_t chunk = decode_piece_elements(weight_dtype);
  if (c.hidden < 1 || c.heads < 1 || c.heads > kDecodeMaxNormGroups || c.head_k_dim < 2 || c.head_k_dim % 2 != 0 ||
      c.head_k_dim > 2048 || c.head_v_dim < 4 || c.head_v_dim % 4 != 0 || c.intermediate < 1)
    return false;
  if (c.hidden % chunk != 0 || (c.heads * c.head_v_dim) % chunk != 0 || c.intermediate % chunk != 0) return false;
  if (workgroups == 0) return false;
  const Plan p = plan(ctx, c, weight_dtype, workgroups);
  return p.threads >= dev.subgroup_size && p.dpt <= kMaxStateRows && p.shared_bytes <= dev.shared_memory_bytes;
}

void decode_layer(gpu::Stream& s, const DecodeLayerShape& c, const DecodeLayerWeights& w,
                  const DecodeLayerActivations& a, const gpu::Tensor& positions, gpu::Tensor& state,
                  gpu::Tensor& sync, const DecodeLayerLaunch& launch) {
  decode_layers(s, c, {w}, a, positions, {&state}, sync, launch);
}

void decode_layers(gpu::Stream& s, const DecodeLayerShape& c, const std::vector<DecodeLayerWeights>& layers,
                   const DecodeLayerActivations& a, const gpu::Tensor& positions,
                   const std::vector<gpu::Tensor*>& states, gpu::Tensor& sync, const DecodeLayerLaunch& launch) {
  const char* kernel = "decode_layer";
  if (layers.empty() || layers.size() != states.size())
    throw Error(fmt::format("{}: {} layers of weights and {} states", kernel, layers.size(), states.size()));
  const gpu::DType wdt = layers[0].q_proj->dtype();
  const int64_t D = c.hidden, H = c.heads, dk = c.head_k_dim, dv = c.head_v_dim, I = c.intermediate;
  auto weight = [&](const gpu::Tensor* t, int64_t rows, int64_t cols) {
    require_dtype(*t, wdt, kernel);
    require_shape(*t, {rows, cols}, kernel);
  };
  auto vector = [&](const gpu::Tensor* t, int64_t n) {
    require_dtype(*t, gpu::DType::F32, kernel);
    if (t->numel() != n) throw Error(fmt::format("{}: {} must have {} elements", kernel, t->describe(), n));
  };
  for (const DecodeLayerWeights& w : layers) {
    weight(w.q_proj, H * dk, D);
    weight(w.k_proj, H * dk, D);
    weight(w.v_proj, H * dv, D);
    weight(w.g_proj, H * dv, D);
    weight(w.o_proj, D, H * dv);
    weight(w.gate_proj, I, D);
    weight(w.up_proj, I, D);
    weight(w.down_proj, D, I);
    vector(w.attn_norm, D);
    vector(w.mlp_norm, D);
    vector(w.g_norm, dv);
  }
  vector(a.h, D);
  vector(a.q, H * dk);
  vector(a.k, H * dk);
  vector(a.v, H * dv);
  vector(a.g, H * dv);
  vector(a.o, H * dv);
  vector(a.ffn, I);
  for (const gpu::Tensor* state : states) {
    require_dtype(*state, gpu::DType::F32, kernel);
    require_shape(*state, {1, H, dk, dv}, kernel);
  }
  require_dtype(positions, gpu::DType::I32, kernel);
  require_shape(positions, {1}, kernel);
  require_dtype(sync, gpu::DType::F32, kernel);
  const int64_t last_layer = int64_t(launch.layer) + int64_t(layers.size()) - 1;
  if (sync.numel() < decode_layer_sync_words(last_layer + 1))
    throw Error(fmt::format("{}: sync {} has no word for layer {}", kernel, sync.describe(), last_layer));
  if (!decode_layer_supported(s.context(), c, wdt, launch.workgroups))
    throw Error(fmt::format("{}: layers of hidden size {}, {} heads of {} x {}, intermediate {} and {} weights are "
                            "not supported on {} workgroups of this device",
                            kernel, D, H, dk, dv, I, gpu::dtype_name(wdt), launch.workgroups));

  // Each kind of tensor bound once: the first layer's, or a view from it over all the layers,
  // which must lie as gpu::stacked lays them out (the shader finds layer l at l strides).
  std::vector<gpu::Tensor> spans;
  spans.reserve(12);
  auto bind = [&](auto tensor_of) -> gpu::Tensor& {
    const gpu::Tensor& first = *tensor_of(0);
    if (layers.size() > 1) {
      std::vector<const gpu::Tensor*> all;
      for (size_t l = 0; l < layers.size(); ++l) all.push_back(tensor_of(l));
      if (!gpu::is_stacked(all))
        throw Error(fmt::format("{}: {} and its kind in the next {} layers are not gpu::stacked tensors, as one "
                                "dispatch of several layers needs",
                                kernel, first.describe(), layers.size() - 1));
      const size_t stride = gpu::stacked_stride(s.context(), first.bytes());
      const int64_t elements =
          int64_t(((layers.size() - 1) * stride + first.bytes()) / gpu::dtype_size(first.dtype()));
      spans.push_back(gpu::Tensor::view(first, 0, {elements}, first.name() + " of every layer"));
    } else {
      spans.push_back(gpu::Tensor::view(first, 0, {first.numel()}, first.name()));
    }
    require_u32_index(spans.back().numel(), "elements", kernel);
    return spans.back();
  };
  auto weights = [&](const gpu::Tensor* DecodeLayerWeights::*member) -> const gpu::Tensor& {
    return bind([&](size_t l) { return layers[l].*member; });
  };
  using W = DecodeLayerWeights;
  const gpu::Tensor &attn_norm = weights(&W::attn_norm), &g_norm = weights(&W::g_norm),
                    &mlp_norm = weights(&W::mlp_norm), &q_proj = weights(&W::q_proj), &k_proj = weights(&W::k_proj),
                    &v_proj = weights(&W::v_proj), &g_proj = weights(&W::g_proj), &o_proj = weights(&W::o_proj),
                    &gate_proj = weights(&W::gate_proj), &up_proj = weights(&W::up_proj),
                    &down_proj = weights(&W::down_proj);
  gpu::Tensor& state = bind([&](size_t l) { return states[l]; });

  struct Push {
    uint32_t D, I, H, dk, dv, first_layer, layers, layer_align;
    float eps, scale;
    RotaryConstants angles;
  } push{static_cast<uint32_t>(D),
         static_cast<uint32_t>(I),
         static_cast<uint32_t>(H),
         static_cast<uint32_t>(dk),
         static_cast<uint32_t>(dv),
         launch.layer,
         static_cast<uint32_t>(layers.size()),
         static_cast<uint32_t>(gpu::Tensor::view_alignment(s.context())),
         launch.eps,
         static_cast<float>(1.0 / std::sqrt(double(dk))),
         rotary_constants(dk)};
  static_assert(sizeof(Push) <= 128, "Vulkan promises 128 bytes of push constants");
  const Plan p = plan(s.context(), c, wdt, launch.workgroups);
  s.dispatch(wdt == gpu::DType::F16 ? "decode_layer_f16" : "decode_layer_f32",
             {gpu::out(sync), gpu::out(*a.h), gpu::out(*a.q), gpu::out(*a.k), gpu::out(*a.v), gpu::out(*a.g),
              gpu::out(*a.o), gpu::out(*a.ffn), gpu::out(state), gpu::in(positions), gpu::in(attn_norm),
              gpu::in(g_norm), gpu::in(mlp_norm), gpu::in(q_proj), gpu::in(k_proj), gpu::in(v_proj),
              gpu::in(g_proj), gpu::in(o_proj), gpu::in(gate_proj), gpu::in(up_proj), gpu::in(down_proj)},
             push, launch.workgroups, 1, 1,
             {p.threads, p.x_vecs, p.x_vecs, p.prefetch, p.cq, p.rg, p.dpt, 1u << 20, launch.sync_shortfall});
}

}  // namespace retnet::kernels
