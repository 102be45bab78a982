#pragma once
#include "gpu/stream.hpp"

namespace retnet::kernels {

// h += x (residual connection). Both f32, same number of elements.
void residual_add(gpu::Stream& s, gpu::Tensor& h, const gpu::Tensor& x);

// dst (f16) = src (f32) of the same shape and an even element count, rounded on the GPU
// the way the optimizer rounds its f16 weight copies.
void cast_to_f16(gpu::Stream& s, const gpu::Tensor& src, gpu::Tensor& dst);

// maxima[slot] = max(maxima[slot], max |values|) with maxima an I32 tensor holding float bits
// (zero it first; a NaN in values leaves NaN's bits, which exceed infinity's). values is f32.
void abs_max(gpu::Stream& s, const gpu::Tensor& values, gpu::Tensor& maxima, int64_t slot);

// Workgroups for a grid-stride loop over n elements with 256-thread groups.
uint32_t grid_stride_groups(int64_t n);

}  // namespace retnet::kernels
