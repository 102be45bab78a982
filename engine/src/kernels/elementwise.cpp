#include "kernels/elementwise.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "kernels/checks.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

uint32_t grid_stride_groups(int64_t n) { return std::clamp<uint32_t>(gpu::div_up(n, 256), 1, gpu::kMaxGroupsPerDimension); }

void residual_add(gpu::Stream& s, gpu::Tensor& h, const gpu::Tensor& x) {
  require_dtype(h, gpu::DType::F32, "residual_add");
  require_dtype(x, gpu::DType::F32, "residual_add");
  require_same_numel(h, x, "residual_add");
  struct { uint32_t n; } push{static_cast<uint32_t>(h.numel())};
  s.dispatch("residual_add", {gpu::out(h), gpu::in(x)}, push, grid_stride_groups(h.numel()));
}

void cast_to_f16(gpu::Stream& s, const gpu::Tensor& src, gpu::Tensor& dst) {
  const char* kernel = "cast_to_f16";
  require_dtype(src, gpu::DType::F32, kernel);
  require_dtype(dst, gpu::DType::F16, kernel);
  require_shape(dst, src.shape(), kernel);
  if (src.numel() % 2 != 0)
    throw Error(fmt::format("{}: {} must have an even number of elements", kernel, src.describe()));
  require_u32_index(src.numel(), "elements", kernel);
  struct { uint32_t words; } push{static_cast<uint32_t>(src.numel() / 2)};
  if (push.words == 0) return;
  s.dispatch("cast_f16", {gpu::out(dst), gpu::in(src)}, push, grid_stride_groups(push.words));
}

void abs_max(gpu::Stream& s, const gpu::Tensor& values, gpu::Tensor& maxima, int64_t slot) {
  const char* kernel = "abs_max";
  require_dtype(values, gpu::DType::F32, kernel);
  require_dtype(maxima, gpu::DType::I32, kernel);
  if (slot < 0 || slot >= maxima.numel())
    throw Error(fmt::format("{}: slot {} is outside {}", kernel, slot, maxima.describe()));
  require_u32_index(values.numel(), "elements", kernel);
  if (values.numel() == 0) return;
  struct {
    uint32_t n, slot;
  } push{static_cast<uint32_t>(values.numel()), static_cast<uint32_t>(slot)};
  // Few enough workgroups that their atomics on the one slot cost nothing, enough to stream at
  // full bandwidth: each thread reads dozens of vec4s of a large tensor.
  const uint32_t groups = std::clamp<uint32_t>(gpu::div_up(values.numel(), 256 * 64), 1, 1024);
  // Only its slot (atomically): reductions into other slots may run beside it.
  s.dispatch("abs_max", {gpu::out_part(maxima), gpu::in(values)}, push, groups);
}

}  // namespace retnet::kernels
