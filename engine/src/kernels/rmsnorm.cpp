#include "kernels/rmsnorm.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kernels/checks.hpp"
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

}  // namespace

void rmsnorm(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& weight, gpu::Tensor& y, float eps,
             ReductionPath path) {
  const char* kernel = "rmsnorm";
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
  s.dispatch(subgroups ? "rmsnorm_subgroup" : "rmsnorm", {gpu::out(y), gpu::in(x), gpu::in(weight)}, push,
             static_cast<uint32_t>(std::min<int64_t>(rows, 65535)), 1, 1, {workgroup_size(n)});
}

void rmsnorm_swish_gate(gpu::Stream& s, const gpu::Tensor& o, const gpu::Tensor& gate, const gpu::Tensor& weight,
                        gpu::Tensor& y, float eps, ReductionPath path) {
  const char* kernel = "rmsnorm_swish_gate";
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
             {gpu::out(y), gpu::in(o), gpu::in(weight), gpu::in(gate)}, push,
             static_cast<uint32_t>(std::min<int64_t>(rows, 65535)), 1, 1, {workgroup_size(dv)});
}

}  // namespace retnet::kernels
