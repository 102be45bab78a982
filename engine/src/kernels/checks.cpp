#include "kernels/checks.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "retnet/error.hpp"

namespace retnet::kernels {

void require_dtype(const gpu::Tensor& t, gpu::DType dtype, const char* kernel) {
  if (t.dtype() != dtype)
    throw Error(fmt::format("{}: tensor {} must be {}", kernel, t.describe(), gpu::dtype_name(dtype)));
}

void require_float(const gpu::Tensor& t, const char* kernel) {
  if (t.dtype() != gpu::DType::F32 && t.dtype() != gpu::DType::F16)
    throw Error(fmt::format("{}: tensor {} must be f32 or f16", kernel, t.describe()));
}

void require_shape(const gpu::Tensor& t, const std::vector<int64_t>& shape, const char* kernel) {
  if (t.shape() != shape)
    throw Error(fmt::format("{}: tensor {} must have shape [{}]", kernel, t.describe(), fmt::join(shape, ", ")));
}

void require_same_numel(const gpu::Tensor& a, const gpu::Tensor& b, const char* kernel) {
  if (a.numel() != b.numel())
    throw Error(fmt::format("{}: tensors {} and {} differ in size", kernel, a.describe(), b.describe()));
}

void require_rank(const gpu::Tensor& t, size_t rank, const char* kernel) {
  if (t.shape().size() != rank)
    throw Error(fmt::format("{}: tensor {} must have {} dimensions", kernel, t.describe(), rank));
}

void require_u32_index(int64_t n, const char* what, const char* kernel) {
  if (n < 0 || n > int64_t(UINT32_MAX))
    throw Error(fmt::format("{}: {} = {} exceeds 32-bit indexing", kernel, what, n));
}

}  // namespace retnet::kernels
