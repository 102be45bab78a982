#include "kernels/swiglu.hpp"

#include "kernels/checks.hpp"
#include "kernels/elementwise.hpp"

namespace retnet::kernels {

void swiglu(gpu::Stream& s, const gpu::Tensor& gate, const gpu::Tensor& up, gpu::Tensor& out) {
  const char* kernel = "swiglu";
  require_dtype(gate, gpu::DType::F32, kernel);
  require_dtype(up, gpu::DType::F32, kernel);
  require_dtype(out, gpu::DType::F32, kernel);
  require_shape(up, gate.shape(), kernel);
  require_shape(out, gate.shape(), kernel);
  require_u32_index(gate.numel(), "elements", kernel);
  struct {
    uint32_t n;
  } push{static_cast<uint32_t>(gate.numel())};
  if (push.n == 0) return;
  s.dispatch("swiglu", {gpu::out(out), gpu::in(gate), gpu::in(up)}, push, grid_stride_groups(gate.numel()));
}

}  // namespace retnet::kernels
