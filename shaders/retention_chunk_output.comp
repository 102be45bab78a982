#version 450
#extension GL_GOOGLE_include_directive : require
// Chunkwise retention between chunks, pass 3 of 3: the outputs' part from the state before
// their chunk (pass 2 left S_c, the state before chunk c, in the scratch). With j the position
// within chunk c (c0 its first position, L its length):
//   o_(c0+j) += scale * gamma^(j+1) * q_(c0+j) S_c          (o already holds the intra-chunk part)
// i.e. the product Q_c S_c contracted over dk: A = Q_c^T ([dim][position]; q is
// [position][dim] in memory, so the slice is staged transposed, with consecutive threads on
// consecutive dims, 64-byte runs of q) and B = S_c ([dim][column], coalesced).
//
// One workgroup = BM positions of one chunk x BN columns of one (sequence, head): grid
// (dv / BN, chunks of the group x query tiles of the chunk, sequences x heads of the block).
// BM is fitted to the chunk length (64 positions for chunks of 64), so each S_c tile is read
// from memory once per query tile (once for chunks up to 64), q is re-read dv / BN times
// (from L2), and o is read and written once. For a 1.3b layer: 8 x 16 x 8 = 1024 workgroups
// of 128 threads per group of 16 chunks, each 16 slices of 16 dims. Each reads a 256 x 64
// tile of S_c (from memory, once overall) and the chunk's 64 x 256 of q (from L2, shared with
// the chunk's 7 other column tiles): wider column tiles would only save L2 reads of q, and
// would halve the workgroups, which already fill the H100's 132 SMs only about 8 deep.
#include "common.glsl"
#include "retention_common.glsl"
#include "retention_tile.glsl"

layout(std430, set = 0, binding = 0) buffer O { float o[]; };
layout(std430, set = 0, binding = 1) readonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 2) readonly buffer S { float st[]; };  // [block][chunks][dk][dv]
layout(push_constant) uniform Push {
  uint T, H, dk, dv;
  uint chunk;        // B
  uint first_chunk;  // the group's first chunk within the sequence
  uint chunks;       // chunks in the group
  uint query_tiles;  // tiles of BM positions per chunk
  uint first_nh;     // the block's first sequence x head (n * H + h)
  float scale;       // dk^-0.5
} pc;

void main() {
  const uint lid = gl_LocalInvocationIndex;
  const uint col0 = gl_WorkGroupID.x * BN;
  const uint gc = gl_WorkGroupID.y / pc.query_tiles, r0 = (gl_WorkGroupID.y % pc.query_tiles) * BM;
  const uint nh = pc.first_nh + gl_WorkGroupID.z, n = nh / pc.H, h = nh % pc.H;
  const uint c0 = (pc.first_chunk + gc) * pc.chunk, len = min(pc.chunk, pc.T - c0);
  if (r0 >= len) return;  // a query tile past a short last chunk (uniform over the workgroup)
  const uint base = (gl_WorkGroupID.z * pc.chunks + gc) * pc.dk;

  vec4 acc[RM];
  tile_clear(acc);
  for (uint d0 = 0; d0 < pc.dk; d0 += KS) {
    for (uint e = lid; e < KS * BM; e += NT) {
      const uint kk = e % KS, r = e / KS, j = r0 + r, d = d0 + kk;
      a_tile_put(kk, r, (j < len && d < pc.dk) ? q[retention_qk_index(n, c0 + j, h, d, pc.T, pc.H, pc.dk)] : 0.0);
    }
    for (uint e = lid; e < KS * BN; e += NT) {
      const uint kk = e / BN, c = e % BN, d = d0 + kk, col = col0 + c;
      b_tile_put(kk, c, (d < pc.dk && col < pc.dv) ? st[(base + d) * pc.dv + col] : 0.0);
    }
    barrier();
    tile_accumulate(acc);
    barrier();  // the slice is consumed before the next one is staged
  }

  const float log2_gamma = retention_log2_gamma(h);
  [[unroll]] for (uint i = 0; i < RM; ++i) {
    const uint j = r0 + tile_row(i);
    if (j < len) {
      const float factor = pc.scale * decay_pow(log2_gamma, float(j + 1));
      const uint row = retention_vo_index(n, c0 + j, h, 0, pc.T, pc.H, pc.dv);
      [[unroll]] for (uint c = 0; c < 4; ++c) {
        const uint col = col0 + tile_col(c);
        if (col < pc.dv) o[row + col] += factor * acc[i][c];
      }
    }
  }
}
