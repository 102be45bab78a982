#include "kernels/retention_backward.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kernels/checks.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/retention_chunk_passes.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

namespace {

constexpr const char* kKernel = "retention_chunkwise_backward";

}  // namespace

void RetentionBackwardScratch::ensure(Context& ctx, int64_t sequences_x_heads, int64_t chunks, int64_t dk,
                                      int64_t dv) {
  const std::vector<int64_t> shape{sequences_x_heads, chunks, dk, dv};
  const int64_t needed = sequences_x_heads * chunks * dk * dv;
  for (gpu::Tensor* t : {&forward_states, &reverse_states}) {
    if (t->empty() || t->capacity() < needed) {
      *t = gpu::Tensor(ctx, shape, gpu::DType::F32,
                       t == &forward_states ? "retention backward forward states" : "retention backward reverse states");
    } else {
      t->reshape(shape);
    }
  }
}

void retention_chunkwise_backward(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                                  const gpu::Tensor& d_o, gpu::Tensor& dq, gpu::Tensor& dk, gpu::Tensor& dv,
                                  int64_t chunk_size, RetentionBackwardScratch& scratch, bool f16_products,
                                  const gpu::Tensor* qkv_maxima, OperandMaximum d_o_maximum) {
  if (qkv_maxima != nullptr) require_qkv_maxima(*qkv_maxima, kKernel);
  require_operand_maximum(d_o_maximum, "d_o", kKernel);
  for (const gpu::Tensor* t : {&q, &k, &v, &d_o, static_cast<const gpu::Tensor*>(&dq),
                               static_cast<const gpu::Tensor*>(&dk), static_cast<const gpu::Tensor*>(&dv)}) {
    require_dtype(*t, gpu::DType::F32, kKernel);
    require_rank(*t, 4, kKernel);
  }
  const int64_t N = q.dim(0), T = q.dim(1), H = q.dim(2), DK = q.dim(3), DV = v.dim(3);
  if (DK < 1 || DV < 1)
    throw Error(fmt::format("{}: head dimensions of {} and {} must be positive", kKernel, q.describe(), v.describe()));
  require_shape(k, {N, T, H, DK}, kKernel);
  require_shape(dq, {N, T, H, DK}, kKernel);
  require_shape(dk, {N, T, H, DK}, kKernel);
  require_shape(v, {N, T, H, DV}, kKernel);
  require_shape(d_o, {N, T, H, DV}, kKernel);
  require_shape(dv, {N, T, H, DV}, kKernel);
  if (chunk_size < 1) throw Error(fmt::format("{}: chunk size {} must be positive", kKernel, chunk_size));
  if (N * T * H == 0) return;
  require_u32_index(q.numel(), "q elements", kKernel);
  require_u32_index(v.numel(), "v elements", kKernel);
  if (N * H > gpu::kMaxGroupsPerDimension)
    throw Error(fmt::format("{}: more than {} sequences x heads", kKernel, gpu::kMaxGroupsPerDimension));

  const int64_t chunk = std::min(chunk_size, T);
  const int64_t chunks = (T + chunk - 1) / chunk;
  require_u32_index(N * H * chunks * DK * DV, "state elements", kKernel);
  scratch.ensure(s.context(), N * H, chunks, DK, DV);

  // Every chunk of every sequence x head in one pass: the scratch holds all their states.
  const RetentionDims d{N, T, H, DK, DV};
  const ChunkPass all{uint32_t(N * H), 0, uint32_t(chunks), 0};
  const float scale = static_cast<float>(1.0 / std::sqrt(double(DK)));
  // With f16 products, the rows are scaled by the maxima of q, k, v, d_o and the states (which
  // the states kernel finds as it writes them).
  const bool f16 = f16_products && f16_backward_rows(s.context(), chunk, DK, DV);
  enum : uint32_t { Q, K, V, DO, FORWARD, REVERSE, SLOTS };
  if (f16) {
    if (scratch.maxima.empty()) scratch.maxima = gpu::Tensor(s.context(), {SLOTS}, gpu::DType::I32, "retention maxima");
    s.fill_zero(scratch.maxima);
  }
  gpu::Tensor* maxima = f16 ? &scratch.maxima : nullptr;
  if (f16) {
    if (qkv_maxima != nullptr) s.copy_region(*qkv_maxima, 0, scratch.maxima, 4 * Q, 3 * 4);
    if (d_o_maximum.known()) s.copy_region(*d_o_maximum.maxima, 4 * d_o_maximum.slot, scratch.maxima, 4 * DO, 4);
    const gpu::Tensor* inputs[] = {&q, &k, &v, &d_o};
    const uint32_t last = d_o_maximum.known() ? V : DO;
    for (uint32_t i = qkv_maxima != nullptr ? DO : Q; i <= last; ++i) abs_max(s, *inputs[i], scratch.maxima, i);
  }
  // With the rows, the states go to tensor cores (chunk_rows_on_tensor_cores implies they can),
  // scaled by the maxima of their operands: the barrier makes those visible, and the two states
  // kernels then run side by side.
  if (f16) s.barrier();
  const ChunkStatesF16 forward_f16{true, K, V}, reverse_f16{true, Q, DO};
  dispatch_chunk_states(s, k, v, scratch.forward_states, nullptr, d, chunk, all, false, 1.0f, maxima, FORWARD,
                        f16 ? &forward_f16 : nullptr);
  dispatch_chunk_states(s, q, d_o, scratch.reverse_states, nullptr, d, chunk, all, true, scale, maxima, REVERSE,
                        f16 ? &reverse_f16 : nullptr);
  const ChunkRowsMaxima for_dq{maxima, DO, V, K, FORWARD}, for_dk{maxima, V, DO, Q, REVERSE},
      for_dv{maxima, K, Q, DO, REVERSE};
  dispatch_chunk_rows(s, ChunkRows::Dq, dq, d_o, v, k, scratch.forward_states, DV, DK, d, chunk, all,
                      f16 ? &for_dq : nullptr);
  dispatch_chunk_rows(s, ChunkRows::Dk, dk, v, d_o, q, scratch.reverse_states, DV, DK, d, chunk, all,
                      f16 ? &for_dk : nullptr);
  dispatch_chunk_rows(s, ChunkRows::Dv, dv, k, q, d_o, scratch.reverse_states, DK, DV, d, chunk, all,
                      f16 ? &for_dv : nullptr);
}

}  // namespace retnet::kernels
