#pragma once
// The passes of chunkwise retention that the forward (kernels/retention.cpp) and the backward
// (kernels/retention_backward.cpp) share, each one dispatch over one group of chunks of one
// block of sequences x heads (ChunkPass):
//   dispatch_chunk_states  the state at each chunk border (retention_chunk_states);
//   dispatch_chunk_rows    rows of each chunk from its own positions and the state at its
//                          border: the forward output, dq, dk or dv (retention_chunk_rows).
// Internal to the library; the callers check the arguments.
#include <cstdint>

#include "gpu/stream.hpp"

namespace retnet::kernels {

struct RetentionDims {
  int64_t n, t, h, dk, dv;
};

// One pass of the part between chunks: `heads` sequences x heads from `first_nh` on, and
// `count` of their chunks from `first_chunk` on, whose states the scratch holds at once
// ([heads][count][dk][dv]).
struct ChunkPass {
  uint32_t heads, first_nh, count, first_chunk;
};

// Workgroups per chunk along the second grid dimension of dispatch_chunk_rows for outputs of
// width dy (its rows of a chunk come in tiles of 64, or 32 on devices of little shared memory).
int64_t chunk_row_tiles(const Context& ctx, int64_t chunk, int64_t dy);

// Where the tensor-core variant of dispatch_chunk_states (retention_chunk_states_coopmat: f16
// products, f32 sums and states) can take chunks of `chunk` positions for dk x dv states:
// 16 x 16 x 16 fragments in subgroups of 32, chunks of 64, dk and dv multiples of 32.
bool chunk_states_on_tensor_cores(const Context& ctx, int64_t chunk, int64_t dk, int64_t dv);

// The tensor-core variant's operands: scaled by powers of two from max |a| and max |b| (float
// bits, from abs_max) in these slots of the maxima (mixed-precision training), or, unscaled,
// rounded to f16 as they are (prefill of f16 models, where no maxima are needed).
// `store_f16`: `states` is an f16 tensor and gets the states rounded to f16, for a reader that
// rounds them so anyway (the walk and `state` stay f32).
struct ChunkStatesF16 {
  bool scaled;
  uint32_t a_slot, b_slot;
  bool store_f16 = false;
};

// Into `states` ([heads][count][dk][dv]): forward (a = k, b = v), the state before each chunk
// of the pass, from `state`, which ends as the state after the pass; or, with state ==
// nullptr, from zero. Reverse (the backward's, a = q, b = dO, state == nullptr): the reverse
// state after each chunk, R_(c-1) = gamma^L R_c + sum_j scale gamma^j q_j^T dO_j.
// With `f16` (where chunk_states_on_tensor_cores holds), on tensor cores, and only there, with
// `maxima`, max |x| of the states written is folded into its slot `max_slot` (float bits, as
// abs_max; the caller zeroes the slot first); scaled, it reads the slots of a and b from
// `maxima` too, which the caller makes visible first (Stream::barrier after writing them: the
// kernel declares the maxima a part write, so that the forward and reverse states can run side
// by side).
void dispatch_chunk_states(gpu::Stream& s, const gpu::Tensor& a, const gpu::Tensor& b, gpu::Tensor& states,
                           gpu::Tensor* state, const RetentionDims& d, int64_t chunk, const ChunkPass& p, bool reverse,
                           float scale, gpu::Tensor* maxima = nullptr, uint32_t max_slot = 0,
                           const ChunkStatesF16* f16 = nullptr);

// What dispatch_chunk_rows computes (see shaders/retention_chunk_rows.comp): out, and a, b, y
// and the states `st` as the shader names them.
enum class ChunkRows : uint32_t { Dq = 0, Dk = 1, Dv = 2, Forward = 3 };

// The scaling of the tensor-core variant: max |x| of a, b, y and st (float bits, from abs_max)
// in these slots of `maxima`.
struct ChunkRowsMaxima {
  const gpu::Tensor* maxima;
  uint32_t a, b, y, st;
};

// Where the tensor-core variant (retention_chunk_rows_coopmat, f16 products with power-of-two
// scaling, f32 sums) can take the rows of chunks of `chunk` positions, contracting `da` into
// `dy` columns: 16 x 16 x 16 fragments in subgroups of 32, chunks of 64, widths multiples of 32.
bool chunk_rows_on_tensor_cores(const Context& ctx, int64_t chunk, int64_t da, int64_t dy);

// With `f16` (where chunk_rows_on_tensor_cores holds) the tensor-core variant, else f32.
void dispatch_chunk_rows(gpu::Stream& s, ChunkRows what, gpu::Tensor& out, const gpu::Tensor& a,
                         const gpu::Tensor& b, const gpu::Tensor& y, const gpu::Tensor& st, int64_t da, int64_t dy,
                         const RetentionDims& d, int64_t chunk, const ChunkPass& p,
                         const ChunkRowsMaxima* f16 = nullptr);

// Where the backward's rows (dq, dk: contracting dv into dk columns; dv: dk into dv) all take
// the tensor-core variant, so that it needs the maxima of q, k and v.
bool f16_backward_rows(const Context& ctx, int64_t chunk, int64_t dk, int64_t dv);

// The maxima the forward leaves for the backward (retention_chunkwise's qkv_maxima, written
// where f16_backward_rows holds): max |q|, |k|, |v| as float bits in 3 i32 slots. require_
// throws unless `maxima` is such a tensor.
void require_qkv_maxima(const gpu::Tensor& maxima, const char* kernel);
// Folds max |q|, |k|, |v| into slots 0, 1, 2 of `maxima` (as abs_max; the caller zeroes them).
void reduce_qkv_maxima(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                       gpu::Tensor& maxima);

}  // namespace retnet::kernels
