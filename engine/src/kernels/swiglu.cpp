#include "kernels/swiglu.hpp"

#include <fmt/format.h>

#include "kernels/checks.hpp"
#include "retnet/error.hpp"
#include "kernels/elementwise.hpp"

namespace retnet::kernels {

void swiglu(gpu::Stream& s, const gpu::Tensor& gate, const gpu::Tensor& up, gpu::Tensor& out,
            const OutputMaxima* maxima) {
  const char* kernel = "swiglu";
  require_output_maxima(maxima, 1, kernel);
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
  s.dispatch("swiglu", {gpu::out(out), gpu::in(gate), gpu::in(up), output_maxima_arg(maxima, out)}, push,
             grid_stride_groups(gate.numel()), 1, 1, output_maxima_constants(maxima, 1));
}

void swiglu_backward(gpu::Stream& s, const gpu::Tensor& gate, const gpu::Tensor& up, const gpu::Tensor& dout,
                     gpu::Tensor& dgate, gpu::Tensor& dup, const OutputMaxima* maxima) {
  const char* kernel = "swiglu_backward";
  require_output_maxima(maxima, 2, kernel);
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
  s.dispatch("swiglu_backward",
             {gpu::out(dgate), gpu::out(dup), gpu::in(gate), gpu::in(up), gpu::in(dout), output_maxima_arg(maxima, dgate)},
             push, grid_stride_groups(gate.numel()), 1, 1, output_maxima_constants(maxima, 2));
}

}  // namespace retnet::kernels
