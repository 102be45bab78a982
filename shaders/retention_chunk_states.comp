#version 450
#extension GL_GOOGLE_include_directive : require
// Chunkwise retention between chunks, pass 1 of 3 (with retention_chunk_scan and
// retention_chunk_rows): each chunk's own contribution to the state, for one group of
// chunks (and one block of sequences x heads) of the call. Chunk c covers positions [c0, c0 + L) (c0 = c * B; L = B, or less for
// the last chunk), j is the position within it:
//   U_c = sum_j gamma^(L-1-j) k_j^T v_j                                (dk x dv)
// i.e. the product K_c^T (W V_c), W = diag(gamma^(L-1-j)), contracted over the L positions.
// With REVERSE (the backward's reverse states, kernels/retention_backward.hpp), k and v are
// q and dO and the weights scale gamma^j: U_c = sum_j scale gamma^j q_j^T dO_j.
// k is [position][dim] in memory, which is already the [contraction][row] layout of A in
// retention_tile.glsl, and v [position][column] that of B: both slices are staged with
// consecutive threads on consecutive addresses (coalesced global reads, conflict-free
// shared stores), v times its decay weight.
//
// One workgroup = one BM x BN tile of U_c for one (sequence, head) and one chunk: grid
// (row tiles x column tiles, chunks of the group, sequences x heads of the block). Every chunk
// and tile is independent, so the pass has (dk / BM) (dv / BN) C N H workgroups (4096 of 128
// threads for a 1.3b layer: 64 x 64 tiles of a 256 x 512 state, 16 chunks, 8 heads), reads k
// and v from L2 about dv / BN and dk / BM times, and writes each U_c once. U_c goes to the
// scratch, laid out [sequences x heads of the block][chunks of the group][dk][dv], where
// retention_chunk_scan turns it into the state before the chunk.
#include "common.glsl"
#include "retention_common.glsl"
#include "retention_tile.glsl"

layout(constant_id = 3) const bool REVERSE = false;

layout(std430, set = 0, binding = 0) writeonly buffer U { float u[]; };
layout(std430, set = 0, binding = 1) readonly buffer K { float k[]; };
layout(std430, set = 0, binding = 2) readonly buffer V { float v[]; };
layout(push_constant) uniform Push {
  uint T, H, dk, dv;
  uint chunk;        // B
  uint first_chunk;  // the group's first chunk within the sequence
  uint chunks;       // chunks in the group
  uint col_tiles;    // tiles of BN columns across dv
  uint first_nh;     // the block's first sequence x head (n * H + h)
  float scale;       // REVERSE: dk^-0.5
} pc;

void main() {
  const uint lid = gl_LocalInvocationIndex;
  const uint row0 = (gl_WorkGroupID.x / pc.col_tiles) * BM, col0 = (gl_WorkGroupID.x % pc.col_tiles) * BN;
  const uint gc = gl_WorkGroupID.y, nh = pc.first_nh + gl_WorkGroupID.z, n = nh / pc.H, h = nh % pc.H;
  const uint c0 = (pc.first_chunk + gc) * pc.chunk, len = min(pc.chunk, pc.T - c0);
  const float log2_gamma = retention_log2_gamma(h);

  vec4 acc[RM];
  tile_clear(acc);
  for (uint j0 = 0; j0 < len; j0 += KS) {
    for (uint e = lid; e < KS * BM; e += NT) {
      const uint kk = e / BM, r = e % BM, j = j0 + kk, d = row0 + r;
      a_tile_put(kk, r, (j < len && d < pc.dk) ? k[retention_qk_index(n, c0 + j, h, d, pc.T, pc.H, pc.dk)] : 0.0);
    }
    for (uint e = lid; e < KS * BN; e += NT) {
      const uint kk = e / BN, c = e % BN, j = j0 + kk, col = col0 + c;
      float x = 0.0;
      if (j < len && col < pc.dv)
        x = (REVERSE ? pc.scale * decay_pow(log2_gamma, float(j)) : decay_pow(log2_gamma, float(len - 1 - j))) * v[retention_vo_index(n, c0 + j, h, col, pc.T, pc.H, pc.dv)];
      b_tile_put(kk, c, x);
    }
    barrier();
    tile_accumulate(acc);
    barrier();  // the slice is consumed before the next one is staged
  }

  const uint base = (gl_WorkGroupID.z * pc.chunks + gc) * pc.dk;
  [[unroll]] for (uint i = 0; i < RM; ++i) {
    const uint d = row0 + tile_row(i);
    if (d < pc.dk) {
      [[unroll]] for (uint c = 0; c < 4; ++c) {
        const uint col = col0 + tile_col(c);
        if (col < pc.dv) u[(base + d) * pc.dv + col] = acc[i][c];
      }
    }
  }
}
