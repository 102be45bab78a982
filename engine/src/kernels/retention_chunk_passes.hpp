#pragma once
// The passes of chunkwise retention that the forward (kernels/retention.cpp) and the backward
// (kernels/retention_backward.cpp) share, each one dispatch over one group of chunks of one
// block of sequences x heads (ChunkPass):
//   dispatch_chunk_states  U_c, each chunk's own contribution to the state (retention_chunk_states);
//   dispatch_chunk_scan    U_c -> the state at each chunk border (retention_chunk_scan);
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

// Workgroups per chunk along the second grid dimension of dispatch_chunk_rows (its rows of a
// chunk come in tiles of 64).
int64_t chunk_row_tiles(int64_t chunk);

// Forward: U_c = sum_j gamma^(L-1-j) a_j^T b_j with a = k, b = v (or reverse, for the
// backward: U_c = sum_j scale gamma^j a_j^T b_j with a = q, b = dO), into `u`.
void dispatch_chunk_states(gpu::Stream& s, const gpu::Tensor& a, const gpu::Tensor& b, gpu::Tensor& u,
                           const RetentionDims& d, int64_t chunk, const ChunkPass& p, bool reverse, float scale);

// In `u`, U_c becomes the state before chunk c, from `state` (which ends as the state after the
// group); or, with state == nullptr, from zero, and with `reverse` walking from the last chunk
// back, U_c becomes the reverse state after chunk c.
void dispatch_chunk_scan(gpu::Stream& s, gpu::Tensor& u, gpu::Tensor* state, const RetentionDims& d, int64_t chunk,
                         const ChunkPass& p, bool reverse);

// What dispatch_chunk_rows computes (see shaders/retention_chunk_rows.comp): out, and a, b, y
// and the states `st` as the shader names them.
enum class ChunkRows : uint32_t { Dq = 0, Dk = 1, Dv = 2, Forward = 3 };
void dispatch_chunk_rows(gpu::Stream& s, ChunkRows what, gpu::Tensor& out, const gpu::Tensor& a,
                         const gpu::Tensor& b, const gpu::Tensor& y, const gpu::Tensor& st, int64_t da, int64_t dy,
                         const RetentionDims& d, int64_t chunk, const ChunkPass& p);

}  // namespace retnet::kernels
