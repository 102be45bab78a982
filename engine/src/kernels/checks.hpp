#pragma once
// Argument checks shared by the kernel launchers: a wrong shape or dtype is a clear
// retnet::Error naming the kernel and the tensor, never a silently wrong answer.
#include <cstdint>
#include <vector>

#include "gpu/tensor.hpp"

namespace retnet::kernels {

void require_dtype(const gpu::Tensor& t, gpu::DType dtype, const char* kernel);
void require_float(const gpu::Tensor& t, const char* kernel);  // f32 or f16
void require_shape(const gpu::Tensor& t, const std::vector<int64_t>& shape, const char* kernel);
void require_same_numel(const gpu::Tensor& a, const gpu::Tensor& b, const char* kernel);
void require_rank(const gpu::Tensor& t, size_t rank, const char* kernel);
// Guards the 32-bit indexing the shaders use.
void require_u32_index(int64_t n, const char* what, const char* kernel);

}  // namespace retnet::kernels
