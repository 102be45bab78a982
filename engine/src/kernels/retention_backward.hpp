#pragma once
// Backward pass of retention in the chunkwise form (training), from a zero initial state.
//
// Forward (see kernels/retention.hpp): o_n = scale sum_{m<=n} gamma^(n-m) (q_n . k_m) v_m,
// gamma_h = 1 - 2^(-5-h), scale = dk^-0.5. Given d_o = dL/do:
//   dq_n = scale sum_{m<=n} gamma^(n-m) (d_o_n . v_m) k_m
//   dk_m = scale sum_{n>=m} gamma^(n-m) (d_o_n . v_m) q_n
//   dv_m = scale sum_{n>=m} gamma^(n-m) (q_n . k_m) d_o_n
// Chunkwise, with chunk c = positions [c0, c0 + L), j = position within the chunk:
//   S_c (forward state before the chunk) = sum_{m<c0} gamma^(c0-1-m) k_m^T v_m   (dk x dv)
//   R_c (reverse state after the chunk)  = sum_{n>=c0+L} gamma^(n-c0-L) scale q_n^T d_o_n
//   dq_n = [intra-chunk terms] + scale gamma^(j+1) S_c d_o_n
//   dk_m = [intra-chunk terms] + gamma^(L-j) R_c v_m
//   dv_m = [intra-chunk terms] + gamma^(L-j) R_c^T k_m
// (split each sum at the chunk border and factor gamma^(n-m) through it); the states follow
// S_(c+1) = gamma^L S_c + sum_j gamma^(L-1-j) k_j^T v_j and R_(c-1) = gamma^L R_c + sum_j gamma^j scale q_j^T d_o_j.
//
// The states come from the forward's pass (kernels/retention_chunk_passes.hpp: each state tile
// walks the chunks, forward for S and backward for R); then one dispatch each for dq, dk and
// dv (retention_chunk_rows) takes every chunk's rows from the chunk's own positions and its
// state. The states are kept in f32 in the scratch.
//
// Layouts (f32): q, k, dq, dk [N, T, H, dk]; v, d_o, dv [N, T, H, dv]. q and k are the
// (rotated) q and k the forward used. dq, dk, dv are overwritten. Wrong shapes or dtypes
// throw retnet::Error.
#include <cstdint>

#include "gpu/stream.hpp"
#include "kernels/output_maxima.hpp"

namespace retnet::kernels {

// Per-chunk forward and reverse states of the backward pass, each [N * H, chunks, dk, dv] f32.
struct RetentionBackwardScratch {
  gpu::Tensor forward_states;
  gpu::Tensor reverse_states;
  gpu::Tensor maxima;  // max |x| of q, k, v, d_o and both states, for f16 products
  // Makes both tensors have that shape, reallocating only when the current buffers are too
  // small (or absent); otherwise views them with the new shape.
  void ensure(Context& ctx, int64_t sequences_x_heads, int64_t chunks, int64_t dk, int64_t dv);
};

// chunk_size >= 1 (any T; the last chunk may be partial; a chunk longer than T is T).
// With f16_products, where the tensor-core rows apply (kernels/retention_chunk_passes.hpp:
// chunks of 64, dk and dv multiples of 32), dq, dk and dv come from f16 products of operands
// scaled by powers of two from their maxima, summed in f32 (mixed-precision training); so are
// the forward and reverse states' updates (the states summed and kept in f32). `qkv_maxima`:
// those retention_chunkwise left for these q, k, v (called with its qkv_maxima, this chunk size
// and f16 products), which the f16 products then copy instead of reducing q, k and v again;
// `d_o_maximum`, where max |d_o| already is (else it is reduced).
void retention_chunkwise_backward(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                                  const gpu::Tensor& d_o, gpu::Tensor& dq, gpu::Tensor& dk, gpu::Tensor& dv,
                                  int64_t chunk_size, RetentionBackwardScratch& scratch, bool f16_products = false,
                                  const gpu::Tensor* qkv_maxima = nullptr, OperandMaximum d_o_maximum = {});

}  // namespace retnet::kernels
