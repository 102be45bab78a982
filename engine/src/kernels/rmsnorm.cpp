#include "kernels/rmsnorm.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kernels/checks.hpp"
#include "kernels/elementwise.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

namespace {

bool use_subgroups(const gpu::Stream& s, ReductionPath path, const char* kernel) {
  const bool available = s.context().active_paths().subgroups;
  if (path == ReductionPath::Subgroup && !available)
    throw Error(fmt::format("{}: the subgroup reduction was requested but the subgroup path is off on this device",
                            kernel));
  return path == ReductionPath::Subgroup || (path == ReductionPath::Auto && available);
}

void require_eps(float eps, const char* kernel) {
  if (!std::isfinite(eps) || eps < 0) throw Error(fmt::format("{}: eps = {} must be finite and >= 0", kernel, eps));
}

// One workgroup per row: short rows (RetNet head dims) do not need 256 threads each.
// Must be a power of two (shared-memory tree reduction).
uint32_t workgroup_size(int64_t n) { return n < 1024 ? 64 : 256; }

struct Push {
  uint32_t n;
  uint32_t rows;
  float eps;
};

struct BackwardPush {
  uint32_t n;
  uint32_t rows;
  float eps;
  uint32_t accumulate;
};

struct WeightGradPush {
  uint32_t n, rows, rows_per_block;
};

struct ColumnSumPush {
  uint32_t n, blocks, offset;
};

constexpr int64_t kWeightGradCols = 64;  // columns per workgroup of norm_weight_grad (COLS)

// Row blocks of the weight gradient's first stage: enough workgroups to fill a large GPU,
// few enough partial sums to add up quickly.
int64_t weight_grad_blocks(int64_t rows) { return std::clamp<int64_t>(gpu::div_up(rows, 64), 1, 64); }

// dweight += sum over rows of dy_eff x inv_rms (inv_rms in scratch[0, rows)), in two stages.
void weight_gradient(gpu::Stream& s, bool gated, gpu::Tensor& scratch, const gpu::Tensor& x, const gpu::Tensor& dy,
                     const gpu::Tensor* gate, gpu::Tensor& dweight, int64_t rows, int64_t n) {
  const int64_t blocks = weight_grad_blocks(rows);
  const WeightGradPush push{uint32_t(n), uint32_t(rows), uint32_t(gpu::div_up(rows, blocks))};
  const uint32_t col_groups = gpu::div_up(n, kWeightGradCols);
  if (gated)
    s.dispatch("norm_weight_grad_gated", {gpu::out(scratch), gpu::in(x), gpu::in(dy), gpu::in(*gate)}, push,
               col_groups, uint32_t(blocks));
  else
    s.dispatch("norm_weight_grad", {gpu::out(scratch), gpu::in(x), gpu::in(dy)}, push, col_groups, uint32_t(blocks));
  const ColumnSumPush sum{uint32_t(n), uint32_t(blocks), uint32_t(rows)};
  s.dispatch("column_sum", {gpu::out(dweight), gpu::in(scratch)}, sum, grid_stride_groups(n));
}

void require_scratch(const gpu::Tensor& scratch, int64_t rows, int64_t n, const char* kernel) {
  require_dtype(scratch, gpu::DType::F32, kernel);
  const int64_t needed = norm_backward_scratch_size(rows, n);
  if (scratch.numel() < needed)
    throw Error(fmt::format("{}: scratch {} must hold at least {} elements", kernel, scratch.describe(), needed));
  require_u32_index(needed, "scratch elements", kernel);
}

}  // namespace

int64_t norm_backward_scratch_size(int64_t rows, int64_t n) { return rows + weight_grad_blocks(rows) * n; }

void rmsnorm_backward(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& weight, const gpu::Tensor& dy,
                      gpu::Tensor& dx, gpu::Tensor& dweight, float eps, gpu::Tensor& scratch, bool accumulate_dx,
                      ReductionPath path, const OutputMaxima* maxima) {
  const char* kernel = "rmsnorm_backward";
  require_output_maxima(maxima, 1, kernel);
  for (const gpu::Tensor* t : {&x, &weight, &dy, static_cast<const gpu::Tensor*>(&dx),
                               static_cast<const gpu::Tensor*>(&dweight)})
    require_dtype(*t, gpu::DType::F32, kernel);
  if (x.shape().empty()) throw Error(fmt::format("{}: tensor {} needs at least one dimension", kernel, x.describe()));
  const int64_t n = x.dim(-1);
  require_shape(weight, {n}, kernel);
  require_shape(dweight, {n}, kernel);
  require_shape(dy, x.shape(), kernel);
  require_shape(dx, x.shape(), kernel);
  require_eps(eps, kernel);
  require_u32_index(x.numel(), "x elements", kernel);
  if (dx.buffer() == x.buffer() || dx.buffer() == dy.buffer())
    throw Error(fmt::format("{}: dx {} must not be an input", kernel, dx.describe()));
  const bool subgroups = use_subgroups(s, path, kernel);
  if (x.numel() == 0) return;
  const int64_t rows = x.numel() / n;
  require_scratch(scratch, rows, n, kernel);
  const BackwardPush push{uint32_t(n), uint32_t(rows), eps, accumulate_dx ? 1u : 0u};
  s.dispatch(subgroups ? "rmsnorm_backward_subgroup" : "rmsnorm_backward",
             {gpu::out(dx), gpu::out(scratch), gpu::in(x), gpu::in(weight), gpu::in(dy), output_maxima_arg(maxima, dx)},
             push, static_cast<uint32_t>(std::min<int64_t>(rows, gpu::kMaxGroupsPerDimension)), 1, 1,
             output_maxima_constants(maxima, 1, {workgroup_size(n)}));
  weight_gradient(s, false, scratch, x, dy, nullptr, dweight, rows, n);
}

void rmsnorm_swish_gate_backward(gpu::Stream& s, const gpu::Tensor& o, const gpu::Tensor& gate,
                                 const gpu::Tensor& weight, const gpu::Tensor& dy, gpu::Tensor& d_o,
                                 gpu::Tensor& d_gate, gpu::Tensor& dweight, float eps, gpu::Tensor& scratch,
                                 ReductionPath path, const OutputMaxima* maxima) {
  const char* kernel = "rmsnorm_swish_gate_backward";
  require_output_maxima(maxima, 2, kernel);
  for (const gpu::Tensor* t : {&o, &gate, &weight, &dy, static_cast<const gpu::Tensor*>(&d_o),
                               static_cast<const gpu::Tensor*>(&d_gate), static_cast<const gpu::Tensor*>(&dweight)})
    require_dtype(*t, gpu::DType::F32, kernel);
  require_rank(weight, 1, kernel);
  const int64_t dv = weight.numel();
  if (o.shape().empty() || dv == 0 || o.dim(-1) % dv != 0)
    throw Error(fmt::format("{}: the last dimension of {} must be a multiple of the head size {} (weight {})", kernel,
                            o.describe(), dv, weight.describe()));
  for (const gpu::Tensor* t : {&gate, &dy, static_cast<const gpu::Tensor*>(&d_o), static_cast<const gpu::Tensor*>(&d_gate)})
    require_shape(*t, o.shape(), kernel);
  require_shape(dweight, {dv}, kernel);
  require_eps(eps, kernel);
  require_u32_index(o.numel(), "o elements", kernel);
  for (const gpu::Tensor* out : {&d_o, &d_gate})
    for (const gpu::Tensor* in : {&o, &gate, &dy})
      if (out->buffer() == in->buffer())
        throw Error(fmt::format("{}: output {} must not be an input", kernel, out->describe()));
  const bool subgroups = use_subgroups(s, path, kernel);
  if (o.numel() == 0) return;
  const int64_t rows = o.numel() / dv;
  require_scratch(scratch, rows, dv, kernel);
  const BackwardPush push{uint32_t(dv), uint32_t(rows), eps, 0u};
  s.dispatch(subgroups ? "rmsnorm_swish_gate_backward_subgroup" : "rmsnorm_swish_gate_backward",
             {gpu::out(d_o), gpu::out(scratch), gpu::in(o), gpu::in(weight), gpu::in(dy), gpu::in(gate),
              gpu::out(d_gate), output_maxima_arg(maxima, d_o)},
             push, static_cast<uint32_t>(std::min<int64_t>(rows, gpu::kMaxGroupsPerDimension)), 1, 1,
             output_maxima_constants(maxima, 2, {workgroup_size(dv)}));
  weight_gradient(s, true, scratch, o, dy, &gate, dweight, rows, dv);
}

void rmsnorm(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& weight, gpu::Tensor& y, float eps,
             ReductionPath path, const OutputMaxima* maxima) {
  const char* kernel = "rmsnorm";
  require_output_maxima(maxima, 1, kernel);
  require_dtype(x, gpu::DType::F32, kernel);
  require_dtype(weight, gpu::DType::F32, kernel);
  require_dtype(y, gpu::DType::F32, kernel);
  if (x.shape().empty()) throw Error(fmt::format("{}: tensor {} needs at least one dimension", kernel, x.describe()));
  const int64_t n = x.dim(-1);
  require_shape(weight, {n}, kernel);
  require_shape(y, x.shape(), kernel);
  require_eps(eps, kernel);
  require_u32_index(x.numel(), "x elements", kernel);
  const bool subgroups = use_subgroups(s, path, kernel);
  if (x.numel() == 0) return;
  const int64_t rows = x.numel() / n;
  Push push{static_cast<uint32_t>(n), static_cast<uint32_t>(rows), eps};
  s.dispatch(subgroups ? "rmsnorm_subgroup" : "rmsnorm",
             {gpu::out(y), gpu::in(x), gpu::in(weight), output_maxima_arg(maxima, y)}, push,
             static_cast<uint32_t>(std::min<int64_t>(rows, gpu::kMaxGroupsPerDimension)), 1, 1,
             output_maxima_constants(maxima, 1, {workgroup_size(n)}));
}

void rmsnorm_swish_gate(gpu::Stream& s, const gpu::Tensor& o, const gpu::Tensor& gate, const gpu::Tensor& weight,
                        gpu::Tensor& y, float eps, ReductionPath path, const OutputMaxima* maxima) {
  const char* kernel = "rmsnorm_swish_gate";
  require_output_maxima(maxima, 1, kernel);
  require_dtype(o, gpu::DType::F32, kernel);
  require_dtype(gate, gpu::DType::F32, kernel);
  require_dtype(weight, gpu::DType::F32, kernel);
  require_dtype(y, gpu::DType::F32, kernel);
  require_rank(weight, 1, kernel);
  const int64_t dv = weight.numel();
  if (o.shape().empty() || dv == 0 || o.dim(-1) % dv != 0)
    throw Error(fmt::format("{}: the last dimension of {} must be a multiple of the head size {} (weight {})", kernel,
                            o.describe(), dv, weight.describe()));
  require_shape(gate, o.shape(), kernel);
  require_shape(y, o.shape(), kernel);
  require_eps(eps, kernel);
  require_u32_index(o.numel(), "o elements", kernel);
  const bool subgroups = use_subgroups(s, path, kernel);
  if (o.numel() == 0) return;
  const int64_t rows = o.numel() / dv;
  Push push{static_cast<uint32_t>(dv), static_cast<uint32_t>(rows), eps};
  s.dispatch(subgroups ? "rmsnorm_swish_gate_subgroup" : "rmsnorm_swish_gate",
             {gpu::out(y), gpu::in(o), gpu::in(weight), gpu::in(gate), output_maxima_arg(maxima, y)}, push,
             static_cast<uint32_t>(std::min<int64_t>(rows, gpu::kMaxGroupsPerDimension)), 1, 1,
             output_maxima_constants(maxima, 1, {workgroup_size(dv)}));
}

}  // namespace retnet::kernels
