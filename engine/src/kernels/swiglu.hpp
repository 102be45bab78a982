#pragma once
#include "gpu/stream.hpp"
#include "kernels/output_maxima.hpp"

namespace retnet::kernels {

// out = swish(gate) * up elementwise (the gated MLP of a RetNet block), swish(z) = z * sigmoid(z).
// All f32 of one shape; out may be gate or up.
// With `maxima` (kernels/output_maxima.hpp), max |out| also goes to its slot.
void swiglu(gpu::Stream& s, const gpu::Tensor& gate, const gpu::Tensor& up, gpu::Tensor& out,
            const OutputMaxima* maxima = nullptr);

// Backward: dgate = dout up swish'(gate), dup = dout swish(gate). All f32 of one shape;
// dgate may be gate and dup may be up (in place saves the activations' memory).
// With `maxima`, max |dgate| and max |dup| also go to its slot and the next.
void swiglu_backward(gpu::Stream& s, const gpu::Tensor& gate, const gpu::Tensor& up, const gpu::Tensor& dout,
                     gpu::Tensor& dgate, gpu::Tensor& dup, const OutputMaxima* maxima = nullptr);

}  // namespace retnet::kernels
