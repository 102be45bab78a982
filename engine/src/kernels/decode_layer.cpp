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
  const char* kernel = "decode_layer";
  const gpu::DType wdt = w.q_proj->dtype();
  const int64_t D = c.hidden, H = c.heads, dk = c.head_k_dim, dv = c.head_v_dim, I = c.intermediate;
  auto weight = [&](const gpu::Tensor* t, int64_t rows, int64_t cols) {
    require_dtype(*t, wdt, kernel);
    require_shape(*t, {rows, cols}, kernel);
    require_u32_index(t->numel(), "weight elements", kernel);
  };
  weight(w.q_proj, H * dk, D);
  weight(w.k_proj, H * dk, D);
  weight(w.v_proj, H * dv, D);
  weight(w.g_proj, H * dv, D);
  weight(w.o_proj, D, H * dv);
  weight(w.gate_proj, I, D);
  weight(w.up_proj, I, D);
  weight(w.down_proj, D, I);
  auto vector = [&](const gpu::Tensor* t, int64_t n) {
    require_dtype(*t, gpu::DType::F32, kernel);
    if (t->numel() != n) throw Error(fmt::format("{}: {} must have {} elements", kernel, t->describe(), n));
  };
  vector(w.attn_norm, D);
  vector(w.mlp_norm, D);
  vector(w.g_norm, dv);
  vector(a.h, D);
  vector(a.q, H * dk);
  vector(a.k, H * dk);
  vector(a.v, H * dv);
  vector(a.g, H * dv);
  vector(a.o, H * dv);
  vector(a.ffn, I);
  require_dtype(state, gpu::DType::F32, kernel);
  require_shape(state, {1, H, dk, dv}, kernel);
  require_u32_index(state.numel(), "state elements", kernel);
  require_dtype(positions, gpu::DType::I32, kernel);
  require_shape(positions, {1}, kernel);
  require_dtype(sync, gpu::DType::F32, kernel);
  if (sync.numel() < decode_layer_sync_words(int64_t(launch.layer) + 1))
    throw Error(fmt::format("{}: sync {} has no word for layer {}", kernel, sync.describe(), launch.layer));
  if (!decode_layer_supported(s.context(), c, wdt, launch.workgroups))
    throw Error(fmt::format("{}: layers of hidden size {}, {} heads of {} x {}, intermediate {} and {} weights are "
                            "not supported on {} workgroups of this device",
                            kernel, D, H, dk, dv, I, gpu::dtype_name(wdt), launch.workgroups));

  struct Push {
    uint32_t D, I, H, dk, dv, layer;
    float eps, scale;
    RotaryConstants angles;
  } push{static_cast<uint32_t>(D), static_cast<uint32_t>(I), static_cast<uint32_t>(H), static_cast<uint32_t>(dk),
         static_cast<uint32_t>(dv), launch.layer, launch.eps, static_cast<float>(1.0 / std::sqrt(double(dk))),
         rotary_constants(dk)};
  const Plan p = plan(s.context(), c, wdt, launch.workgroups);
  s.dispatch(wdt == gpu::DType::F16 ? "decode_layer_f16" : "decode_layer_f32",
             // Written as parts: consecutive layers need no barrier between them, as each
             // waits for the previous one to finish (decode_layer.glsl, previous_layer_done).
             {gpu::out_part(sync), gpu::out_part(*a.h), gpu::out_part(*a.q), gpu::out_part(*a.k),
              gpu::out_part(*a.v), gpu::out_part(*a.g), gpu::out_part(*a.o), gpu::out_part(*a.ffn),
              gpu::out_part(state), gpu::in(positions), gpu::in(*w.attn_norm),
              gpu::in(*w.g_norm), gpu::in(*w.mlp_norm), gpu::in(*w.q_proj), gpu::in(*w.k_proj), gpu::in(*w.v_proj),
              gpu::in(*w.g_proj), gpu::in(*w.o_proj), gpu::in(*w.gate_proj), gpu::in(*w.up_proj),
              gpu::in(*w.down_proj)},
             push, launch.workgroups, 1, 1,
             {p.threads, p.x_vecs, p.x_vecs, p.prefetch, p.cq, p.rg, p.dpt, 1u << 20, launch.sync_shortfall});
}

}  // namespace retnet::kernels
