#pragma once
#include "gpu/stream.hpp"

namespace retnet::kernels {

// h += x (residual connection). Both f32, same number of elements.
void residual_add(gpu::Stream& s, gpu::Tensor& h, const gpu::Tensor& x);

// Workgroups for a grid-stride loop over n elements with 256-thread groups.
uint32_t grid_stride_groups(int64_t n);

}  // namespace retnet::kernels
