#pragma once
#include "gpu/stream.hpp"
#include "kernels/output_maxima.hpp"

namespace retnet::kernels {

// How the per-row sum of squares is reduced. Auto takes the subgroup variant when the
// subgroup fast path is in effect (ctx.active_paths().subgroups), shared memory otherwise;
// the explicit choices exist so tests can run both (Subgroup throws when that path is off).
enum class ReductionPath { Auto, Subgroup, Shared };

// y = x / sqrt(mean(x^2) + eps) * weight over the last dimension.
// x f32 [..., n] (rows = numel / n), weight f32 [n], y f32 with x's shape (y may be x).
// With `maxima` (kernels/output_maxima.hpp), max |y| also goes to its slot.
void rmsnorm(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& weight, gpu::Tensor& y, float eps,
             ReductionPath path = ReductionPath::Auto, const OutputMaxima* maxima = nullptr);

// RetNet's per-head output norm fused with the output gate:
//   y = RMSNorm(o_head; weight) * swish(gate),  swish(z) = z * sigmoid(z).
// o, gate, y f32 of one shape [..., H * dv] (normally [N*T, H*dv]); each head's dv values
// (dv = weight.numel(), shared by all heads) are normalised on their own. y may be o or gate.
// With `maxima`, max |y| also goes to its slot.
void rmsnorm_swish_gate(gpu::Stream& s, const gpu::Tensor& o, const gpu::Tensor& gate, const gpu::Tensor& weight,
                        gpu::Tensor& y, float eps, ReductionPath path = ReductionPath::Auto,
                        const OutputMaxima* maxima = nullptr);

// The backward passes. Each writes the input gradient and ADDS the weight gradient into
// dweight (f32 [n]), so gradients accumulate over micro-batches; `scratch` (f32) holds at
// least norm_backward_scratch_size(rows, n) elements (the rows' 1/rms and partial sums).
int64_t norm_backward_scratch_size(int64_t rows, int64_t n);

// dx (= or += with accumulate_dx) for y = rmsnorm(x; weight) given dy (see reference::rmsnorm_backward).
// With `maxima`, max |dx| (of the sum where it accumulates) also goes to its slot.
void rmsnorm_backward(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& weight, const gpu::Tensor& dy,
                      gpu::Tensor& dx, gpu::Tensor& dweight, float eps, gpu::Tensor& scratch,
                      bool accumulate_dx = false, ReductionPath path = ReductionPath::Auto,
                      const OutputMaxima* maxima = nullptr);

// d_o and d_gate for y = rmsnorm_swish_gate(o, gate; weight) given dy. With `maxima`, max |d_o|
// and max |d_gate| also go to its slot and the next.
void rmsnorm_swish_gate_backward(gpu::Stream& s, const gpu::Tensor& o, const gpu::Tensor& gate,
                                 const gpu::Tensor& weight, const gpu::Tensor& dy, gpu::Tensor& d_o,
                                 gpu::Tensor& d_gate, gpu::Tensor& dweight, float eps, gpu::Tensor& scratch,
                                 ReductionPath path = ReductionPath::Auto, const OutputMaxima* maxima = nullptr);

}  // namespace retnet::kernels
