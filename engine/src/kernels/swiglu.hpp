#pragma once
#include "gpu/stream.hpp"

namespace retnet::kernels {

// out = swish(gate) * up elementwise (the gated MLP of a RetNet block), swish(z) = z * sigmoid(z).
// All f32 of one shape; out may be gate or up.
void swiglu(gpu::Stream& s, const gpu::Tensor& gate, const gpu::Tensor& up, gpu::Tensor& out);

}  // namespace retnet::kernels
