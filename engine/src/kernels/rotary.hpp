#pragma once
#include <string>

#include "gpu/stream.hpp"
#include "kernels/output_maxima.hpp"

namespace retnet::kernels {

// Rotary position embedding of RetNet's q and k, in place (non-interleaved halves, base 10000):
// for i < d/2, a = t * 10000^(-2i/d):
//   x'[i] = x[i] cos a - x[i+d/2] sin a,  x'[i+d/2] = x[i+d/2] cos a + x[i] sin a.
// x f32 [rows, H, d] (rows = N*T), d even and at most 2048; positions i32 [rows], each row's
// absolute position t. The angle is reduced exactly (see shaders/rotary.comp), so the error
// stays ~1e-6 at any position instead of growing like t * 2^-24.
// With `maxima` (kernels/output_maxima.hpp), max |x'| also goes to its slot.
void rotary(gpu::Stream& s, gpu::Tensor& x, const gpu::Tensor& positions, const OutputMaxima* maxima = nullptr);

// The backward pass, in place on the gradient of the rotated x: every pair is rotated by -a.
void rotary_backward(gpu::Stream& s, gpu::Tensor& grad, const gpu::Tensor& positions,
                     const OutputMaxima* maxima = nullptr);

// The push constants shaders/rotary_angle.glsl reads, for head dimension d (even, <= 2048):
// 1 / (2 pi) and 10000^(-2^(k+1) / d), k < 10, each as a float pair hi + lo.
struct RotaryConstants {
  float turns_per_radian[2];
  float ratio_powers[10][2];
};
RotaryConstants rotary_constants(int64_t d);
// Throws unless d is a head dimension rotary supports (even, at most 2048).
void require_rotary_dim(int64_t d, const std::string& what, const char* kernel);

}  // namespace retnet::kernels
