#include "kernels/elementwise.hpp"

#include <algorithm>

#include "kernels/checks.hpp"

namespace retnet::kernels {

uint32_t grid_stride_groups(int64_t n) { return std::clamp<uint32_t>(gpu::div_up(n, 256), 1, 65535); }

void residual_add(gpu::Stream& s, gpu::Tensor& h, const gpu::Tensor& x) {
  require_dtype(h, gpu::DType::F32, "residual_add");
  require_dtype(x, gpu::DType::F32, "residual_add");
  require_same_numel(h, x, "residual_add");
  struct { uint32_t n; } push{static_cast<uint32_t>(h.numel())};
  s.dispatch("residual_add", {gpu::out(h), gpu::in(x)}, push, grid_stride_groups(h.numel()));
}

}  // namespace retnet::kernels
