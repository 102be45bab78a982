#include "kernels/swiglu.hpp"

#include <fmt/format.h>

#include "kernels/checks.hpp"
#include "retnet/error.hpp"
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

void swiglu_backward(gpu::Stream& s, const gpu::Tensor& gate, const gpu::Tensor& up, const gpu::Tensor& dout,
                     gpu::Tensor& dgate, gpu::Tensor& dup) {
  const char* kernel = "swiglu_backward";
  for (const gpu::Tensor* t : {&gate, &up, &dout, static_cast<const gpu::Tensor*>(&dgate),
                               static_cast<const gpu::Tensor*>(&dup)}) {
    require_dtype(*t, gpu::DType::F32, kernel);
    require_shape(*t, gate.shape(), kernel);
  }
  require_u32_index(gate.numel(), "elements", kernel);
  if (dgate.buffer() == dup.buffer() || dgate.buffer() == up.buffer() || dup.buffer() == gate.buffer() ||
      dgate.buffer() == dout.buffer() || dup.buffer() == dout.buffer())
    throw Error(fmt::format("{}: dgate may only alias gate and dup only up", kernel));
  struct {
    uint32_t n;
  } push{static_cast<uint32_t>(gate.numel())};
  if (push.n == 0) return;
  s.dispatch("swiglu_backward", {gpu::out(dgate), gpu::out(dup), gpu::in(gate), gpu::in(up), gpu::in(dout)}, push,
             grid_stride_groups(gate.numel()));
}

}  // namespace retnet::kernels
