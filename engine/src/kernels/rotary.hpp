#pragma once
#include "gpu/stream.hpp"

namespace retnet::kernels {

// Rotary position embedding of RetNet's q and k, in place (non-interleaved halves, base 10000):
// for i < d/2, a = t * 10000^(-2i/d):
//   x'[i] = x[i] cos a - x[i+d/2] sin a,  x'[i+d/2] = x[i+d/2] cos a + x[i] sin a.
// x f32 [rows, H, d] (rows = N*T), d even and at most 2048; positions i32 [rows], each row's
// absolute position t. The angle is reduced exactly (see shaders/rotary.comp), so the error
// stays ~1e-6 at any position instead of growing like t * 2^-24.
void rotary(gpu::Stream& s, gpu::Tensor& x, const gpu::Tensor& positions);

// The backward pass, in place on the gradient of the rotated x: every pair is rotated by -a.
void rotary_backward(gpu::Stream& s, gpu::Tensor& grad, const gpu::Tensor& positions);

}  // namespace retnet::kernels
