#pragma once
// Retention, the token mixer of RetNet, in its three equivalent forms.
//
// Per (sequence, head h): gamma = 1 - 2^(-5-h), scale = dk^-0.5, q_n, k_n rows of dk, v_n of dv.
//   parallel:   o_n = sum_{m<=n} gamma^(n-m) scale (q_n . k_m) v_m
//   recurrent:  S_n = gamma S_(n-1) + k_n^T v_n (S is dk x dv),  o_n = scale q_n S_n
//   chunkwise:  chunks of B positions; in chunk c with j = n - cB,
//               o_n = scale q_n (gamma^(j+1) S_prev) + sum_{m in chunk, m<=n} gamma^(n-m) scale (q_n . k_m) v_m
//               S_next = gamma^B S_prev + sum_j gamma^(B-1-j) k_j^T v_j   (last chunk: its length L for B)
// Why they agree: unrolling the recurrence gives S_n = gamma^(n+1) S_(-1) + sum_{m<=n} gamma^(n-m) k_m^T v_m,
// so scale q_n S_n = sum_{m<=n} gamma^(n-m) scale (q_n . k_m) v_m (the parallel form, from S_(-1) = 0)
// since (q_n k_m^T) v_m = (q_n . k_m) v_m. Chunkwise splits that sum at the chunk start cB:
// the terms m < cB are gamma^(j+1) times the unrolled S at position cB - 1, which is exactly
// S_prev as the chunk update builds it (the same unrolling over one chunk); the terms
// cB <= m <= n are computed directly. Parallel costs O(T^2) but is all parallel; recurrent is
// O(T) but sequential (it is the decode step); chunkwise is O(T B) and parallel over the chunks
// too: each chunk's own update sum_j gamma^(B-1-j) k_j^T v_j is independent, the state
// recurrence between chunks is elementwise (a short scan), and each chunk's outputs then
// need only the state before it.
//
// Layouts (f32): q, k [N, T, H, dk]; v, o [N, T, H, dv]; state [N, H, dk, dv]; h is the head
// index within the layer. The forms with a state start from it and leave the final state in it
// (so a chunkwise prefill can be continued by recurrent decode, T = 1). o is overwritten.
// Wrong shapes or dtypes throw retnet::Error.
#include <cstdint>

#include "gpu/stream.hpp"

namespace retnet::kernels {

void retention_parallel(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                        gpu::Tensor& o);

// Scratch of retention_chunkwise: the states at the chunk borders (f32, dk x dv each). The
// part between chunks runs in parallel over the chunks, so it needs every chunk's state at
// once; a call whose states do not fit in `budget_bytes` walks them in passes over groups of
// chunks (and, where even one chunk of every sequence x head does not fit, over blocks of
// sequences x heads), one after the other, carrying the state through `state`. The scratch
// never exceeds the budget, nor what the call needs, except that it always holds one dk x dv
// state. It grows on demand and is reused: keep one per model or trainer and pass it to
// every call. A buffer it outgrows lives until the stream's next submit; a sealed recording
// (Stream::seal) that used it must be recorded again after a call grows it.
struct RetentionChunkScratch {
  int64_t budget_bytes = int64_t(64) << 20;  // lower it to use less memory (or, in tests, to force groups)
  gpu::Tensor states;
  gpu::Tensor maxima;  // max |x| of q, k, v and a pass's states, for the tensor-core rows
};

// chunk_size >= 1 (any T; the last chunk may be partial; a chunk longer than T is T).
// With f16_products, where retention_chunks_on_tensor_cores says so (chunks of 64, dk a
// multiple of 64 up to 256, dv a multiple of 64), every product runs on tensor cores: q, k, v,
// the decayed scores and the states at the chunk borders are rounded to f16 for the products,
// summed in f32 (a relative error near 1e-3 instead of f32 rounding, as in fla's f16 kernels;
// for models whose weights are f16 anyway); the border states are kept so in the scratch (two
// bytes each against the budget). The state carried from chunk to chunk stays f32. Elsewhere, where the rows of each chunk can run on tensor cores
// (kernels/retention_chunk_passes.hpp: chunks of 64, dk and dv multiples of 32), they and the
// states' updates do, with q, k, v and the states scaled by powers of two from their maxima
// (mixed-precision training; the states are summed and kept in f32).
// With `qkv_maxima` (a [3] i32 tensor) and f16_products, it also leaves max |q|, |k|, |v| there
// (float bits) where the backward's products would run on tensor cores, for
// retention_chunkwise_backward on the same q, k, v (same chunk size, f16 products) to use
// instead of reducing them again.
void retention_chunkwise(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                         gpu::Tensor& state, gpu::Tensor& o, int64_t chunk_size, RetentionChunkScratch& scratch,
                         bool f16_products = false, gpu::Tensor* qkv_maxima = nullptr);
bool retention_chunks_on_tensor_cores(const Context& ctx, int64_t T, int64_t dk, int64_t dv, int64_t chunk_size);
void retention_recurrent(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                         gpu::Tensor& state, gpu::Tensor& o);

}  // namespace retnet::kernels
