#include "kernels/decode.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/checks.hpp"
#include "kernels/rotary.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

namespace {

constexpr int64_t kMaxInput = 16384;  // elements staged in shared memory (64 KiB would hurt occupancy)
constexpr uint32_t kMaxInputRegs = 4;   // input vec4s per thread loaded ahead of the weights
constexpr uint32_t kMaxPrefetch = 16;  // weight pieces per lane in registers (64 registers of f16 rows)

uint32_t workgroup_threads(const Context& ctx) {
  return std::min<uint32_t>(256, ctx.device().max_workgroup_invocations);
}

bool subgroups_usable(const Context& ctx) {
  const auto& dev = ctx.device();
  return ctx.active_paths().subgroups && dev.subgroup_arithmetic && dev.subgroup_size >= 4 &&
         dev.subgroup_size <= workgroup_threads(ctx);
}

struct MatvecPush {
  uint32_t K;
  uint32_t rows[4];
  uint32_t accumulate;
  uint32_t norm;  // 0 none, 1 RMSNorm, 2 gated group norm
  uint32_t group_size;
  float eps;
};

void dispatch_matvec(gpu::Stream& s, const DecodeInput& in, const std::vector<DecodeProduct>& products,
                     bool accumulate, bool swiglu, const char* kernel) {
  if (!in.x) throw Error(fmt::format("{}: no input", kernel));
  if (products.empty() || products.size() > 4) throw Error(fmt::format("{}: 1 to 4 products", kernel));
  const gpu::Tensor& x = *in.x;
  require_dtype(x, gpu::DType::F32, kernel);
  const gpu::Tensor& w0 = *products[0].w;
  require_float(w0, kernel);
  require_rank(w0, 2, kernel);
  const int64_t K = w0.dim(1);
  if (x.numel() != K)
    throw Error(fmt::format("{}: input {} must have {} elements to match weights {}", kernel, x.describe(), K,
                            w0.describe()));
  uint32_t rows[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < products.size(); ++i) {
    const gpu::Tensor& w = *products[i].w;
    gpu::Tensor& y = *products[i].y;
    require_dtype(w, w0.dtype(), kernel);
    require_rank(w, 2, kernel);
    if (w.dim(1) != K)
      throw Error(fmt::format("{}: weights {} and {} must have the same columns", kernel, w0.describe(), w.describe()));
    require_dtype(y, gpu::DType::F32, kernel);
    if (y.numel() != (swiglu ? products[0].w->dim(0) : w.dim(0)))
      throw Error(fmt::format("{}: output {} must have {} elements", kernel, y.describe(), w.dim(0)));
    if (y.buffer() == x.buffer() || (in.gate && y.buffer() == in.gate->buffer()))
      throw Error(fmt::format("{}: output {} must not be an input", kernel, y.describe()));
    require_u32_index(w.numel(), "w elements", kernel);
    rows[i] = static_cast<uint32_t>(w.dim(0));
  }
  if (swiglu && rows[1] != rows[0])
    throw Error(fmt::format("{}: gate and up weights {} and {} must have the same shape", kernel, w0.describe(),
                            products[1].w->describe()));

  const int64_t group_size = in.gate ? in.group_size : K;
  if (!decode_matvec_supported(s.context(), K, in.gate ? group_size : 0, in.norm_weight != nullptr, w0.dtype()))
    throw Error(fmt::format("{}: inputs of {} elements (norm groups of {}) are not supported on this device", kernel,
                            K, group_size));
  MatvecPush push{};
  push.K = static_cast<uint32_t>(K);
  std::copy(rows, rows + 4, push.rows);
  push.accumulate = accumulate ? 1 : 0;
  push.eps = in.eps;
  push.group_size = static_cast<uint32_t>(group_size);
  if (in.norm_weight) {
    require_dtype(*in.norm_weight, gpu::DType::F32, kernel);
    if (in.norm_weight->numel() != group_size)
      throw Error(fmt::format("{}: norm weight {} must have {} elements", kernel, in.norm_weight->describe(),
                              group_size));
    push.norm = in.gate ? 2 : 1;
  } else if (in.gate) {
    throw Error(fmt::format("{}: a gate needs a norm weight", kernel));
  }
  if (in.gate) {
    require_dtype(*in.gate, gpu::DType::F32, kernel);
    if (in.gate->numel() != K)
      throw Error(fmt::format("{}: gate {} must have {} elements", kernel, in.gate->describe(), K));
  }

  const auto& dev = s.context().device();
  const uint32_t threads = workgroup_threads(s.context());
  const uint32_t rows_per_group = threads / dev.subgroup_size;
  const int64_t total = swiglu ? rows[0] : int64_t(rows[0]) + rows[1] + rows[2] + rows[3];
  const uint32_t groups = gpu::div_up(total, rows_per_group);
  if (groups > gpu::kMaxGroupsPerDimension) throw Error(fmt::format("{}: {} output rows are too many for one dispatch", kernel, total));
  if (total == 0) return;
  const int64_t pieces = K / decode_piece_elements(w0.dtype());
  const uint32_t prefetch = std::clamp<uint32_t>(gpu::div_up(pieces, dev.subgroup_size), 1,
                                                 swiglu ? kMaxPrefetch / 2 : kMaxPrefetch);

  // Unused bindings alias used ones; the shader never touches them.
  auto y_at = [&](size_t i) -> gpu::Tensor& { return *products[std::min(i, products.size() - 1)].y; };
  auto w_at = [&](size_t i) -> const gpu::Tensor& { return *products[std::min(i, products.size() - 1)].w; };
  const gpu::Tensor& gate = in.gate ? *in.gate : x;
  const gpu::Tensor& norm_weight = in.norm_weight ? *in.norm_weight : x;
  const char* shader = w0.dtype() == gpu::DType::F16 ? "decode_matvec_f16" : "decode_matvec_f32";
  s.dispatch(shader,
             {gpu::out(y_at(0)), gpu::out(y_at(1)), gpu::out(y_at(2)), gpu::out(y_at(3)), gpu::in(x), gpu::in(gate),
              gpu::in(norm_weight), gpu::in(w_at(0)), gpu::in(w_at(1)), gpu::in(w_at(2)), gpu::in(w_at(3))},
             push, groups, 1, 1,
             {threads, static_cast<uint32_t>(K / 4), prefetch, swiglu ? 1u : 0u, rows_per_group,
              std::clamp<uint32_t>(gpu::div_up(K / 4, threads), 1, kMaxInputRegs),
              push.norm != 0 ? static_cast<uint32_t>(K / 4) : 1u});
}

// retention_decode's workgroup: CQ column quads x RG row groups (both powers of two).
struct DecodeShape {
  uint32_t threads, cq, rg, dpt;
};

DecodeShape retention_decode_shape(const Context& ctx, int64_t dk, int64_t dv) {
  DecodeShape d{};
  d.threads = workgroup_threads(ctx);
  d.cq = 1;
  while (d.cq < 4 && 4 * d.cq < dv) d.cq *= 2;  // narrow blocks: many workgroups for the bandwidth
  d.rg = d.threads / d.cq;
  d.dpt = static_cast<uint32_t>((dk + d.rg - 1) / d.rg);
  return d;
}

}  // namespace

bool decode_matvec_supported(const Context& ctx, int64_t K, int64_t group_size, bool normalised,
                             gpu::DType weight_dtype) {
  if (!subgroups_usable(ctx)) return false;
  if (K < 1 || K > kMaxInput || K % decode_piece_elements(weight_dtype) != 0) return false;
  const int64_t gs = group_size == 0 ? K : group_size;
  if (gs % 4 != 0 || K % gs != 0 || K / gs > kDecodeMaxNormGroups) return false;
  // The staged input (16 bytes per vec4), its sums of squares (4 per vec4) and the group scales.
  return uint64_t(K) * 4 + (normalised ? uint64_t(K) : 0) + kDecodeMaxNormGroups * 4 <=
         ctx.device().shared_memory_bytes;
}

void decode_matvec(gpu::Stream& s, const DecodeInput& in, std::initializer_list<DecodeProduct> products,
                   bool accumulate) {
  dispatch_matvec(s, in, std::vector<DecodeProduct>(products), accumulate, false, "decode_matvec");
}

void decode_matvec_swiglu(gpu::Stream& s, const DecodeInput& in, const gpu::Tensor& w_gate, const gpu::Tensor& w_up,
                          gpu::Tensor& y) {
  dispatch_matvec(s, in, {{&w_gate, &y}, {&w_up, &y}}, false, true, "decode_matvec_swiglu");
}

bool retention_decode_supported(const Context& ctx, int64_t dk, int64_t dv) {
  if (dk < 2 || dk % 2 != 0 || dk > 2048 || dv < 1) return false;
  const DecodeShape d = retention_decode_shape(ctx, dk, dv);
  const uint64_t shared = 2ull * d.dpt * d.rg * 4 + uint64_t(d.threads) * 16;
  return d.dpt <= 64 && shared <= ctx.device().shared_memory_bytes;
}

bool retention_decode_states_supported(const Context& ctx, int64_t dk, int64_t dv) {
  // o, q, k, v, positions and the array of states
  return dv % 4 == 0 && ctx.device().storage_buffer_arrays >= 5 + kStatesPerDispatch &&
         retention_decode_supported(ctx, dk, dv);
}

namespace {

// retention_decode of every sequence of q, k, v, positions and o, whose states are `states`:
// the batch's one buffer [N, H, dk, dv], or where `own` is set each sequence's own
// [1, H, dk, dv], kStatesPerDispatch sequences a dispatch.
void record_retention_decode(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                             const gpu::Tensor& positions, const std::vector<gpu::Tensor*>& states, bool own,
                             gpu::Tensor& o) {
  const char* kernel = own ? "retention_decode_states" : "retention_decode";
  for (const gpu::Tensor* t : {&q, &k, &v, static_cast<const gpu::Tensor*>(&o)}) {
    require_dtype(*t, gpu::DType::F32, kernel);
    require_rank(*t, 4, kernel);
  }
  const int64_t N = q.dim(0), H = q.dim(2), dk = q.dim(3), dv = v.dim(3);
  if (q.dim(1) != 1) throw Error(fmt::format("{}: q {} must hold one position per sequence", kernel, q.describe()));
  require_shape(k, {N, 1, H, dk}, kernel);
  require_shape(v, {N, 1, H, dv}, kernel);
  require_shape(o, {N, 1, H, dv}, kernel);
  require_dtype(positions, gpu::DType::I32, kernel);
  require_shape(positions, {N}, kernel);
  if (own && static_cast<int64_t>(states.size()) != N)
    throw Error(fmt::format("{}: {} states for a batch of {} sequences", kernel, states.size(), N));
  for (gpu::Tensor* state : states) {
    require_dtype(*state, gpu::DType::F32, kernel);
    require_shape(*state, {own ? 1 : N, H, dk, dv}, kernel);
    require_u32_index(state->numel(), "state elements", kernel);
  }
  require_rotary_dim(dk, q.describe(), kernel);
  if (N * H > gpu::kMaxGroupsPerDimension) throw Error(fmt::format("{}: more than {} sequences x heads", kernel, gpu::kMaxGroupsPerDimension));
  if (!(own ? retention_decode_states_supported : retention_decode_supported)(s.context(), dk, dv))
    throw Error(fmt::format("{}: heads of {} x {} are not supported on this device", kernel, dk, dv));
  if (N * H == 0) return;

  struct Push {
    uint32_t H, dk, dv;
    float scale;
    RotaryConstants angles;
    uint32_t first;
  } push{static_cast<uint32_t>(H), static_cast<uint32_t>(dk), static_cast<uint32_t>(dv),
         static_cast<float>(1.0 / std::sqrt(double(dk))), rotary_constants(dk), 0};
  const DecodeShape d = retention_decode_shape(s.context(), dk, dv);
  const std::vector<uint32_t> spec{d.threads, d.cq, d.rg, d.dpt, dv % 4 == 0 ? 1u : 0u};
  if (!own) {
    s.dispatch(kernel, {gpu::out(o), gpu::out(*states[0]), gpu::in(q), gpu::in(k), gpu::in(v), gpu::in(positions)},
               push, gpu::div_up(dv, 4 * d.cq), static_cast<uint32_t>(N * H), 1, spec);
    return;
  }
  // The shader's array always has kStatesPerDispatch buffers: a last group of fewer sequences
  // repeats its first state in the slots that no workgroup reads.
  for (int64_t first = 0; first < N; first += kStatesPerDispatch) {
    const int64_t count = std::min<int64_t>(N - first, kStatesPerDispatch);
    std::vector<gpu::Tensor*> group(kStatesPerDispatch, states[first]);
    std::copy(states.begin() + first, states.begin() + first + count, group.begin());
    push.first = static_cast<uint32_t>(first);
    // The groups write separate rows of o, so they need no barrier between them.
    const gpu::Arg out_o = count == N ? gpu::out(o) : gpu::out_part(o);
    s.dispatch(kernel, {out_o, gpu::out_each(group), gpu::in(q), gpu::in(k), gpu::in(v), gpu::in(positions)}, push,
               gpu::div_up(dv, 4 * d.cq), static_cast<uint32_t>(count * H), 1, spec);
  }
}

}  // namespace

void retention_decode(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                      const gpu::Tensor& positions, gpu::Tensor& state, gpu::Tensor& o) {
  record_retention_decode(s, q, k, v, positions, {&state}, false, o);
}

void retention_decode_states(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                             const gpu::Tensor& positions, const std::vector<gpu::Tensor*>& states, gpu::Tensor& o) {
  record_retention_decode(s, q, k, v, positions, states, true, o);
}

}  // namespace retnet::kernels
