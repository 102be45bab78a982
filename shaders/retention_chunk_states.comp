#version 450
#extension GL_GOOGLE_include_directive : require
// Chunkwise retention between chunks: the state at every chunk border of one group of chunks
// (of one block of sequences x heads), before retention_chunk_rows takes each chunk's rows
// from it. Chunk c covers positions [c0, c0 + L) (c0 = c * B; L = B, or less for the last),
// j is the position within it:
//   forward   S_first = state,  S_(c+1) = gamma^L S_c + sum_j gamma^(L-1-j) k_j^T v_j
//             the scratch gets S_c, the state before chunk c; `state` ends as the state after
//             the group (what the next group, or the next call, starts from);
//   REVERSE   (the backward's reverse states, kernels/retention_backward.hpp; a = q, b = dO)
//             R_last = 0,  R_(c-1) = gamma^L R_c + sum_j scale gamma^j q_j^T dO_j
//             walking from the last chunk back; the scratch gets R_c, the state after chunk c.
// FROM_ZERO starts from a zero state and leaves `state` alone (the backward's states).
//
// One workgroup = one BM x BN tile of the state for one (sequence, head), kept in registers
// while the workgroup walks the chunks in order: per chunk it stores the tile, decays it, and
// adds the chunk's own sum A_c^T (W B_c) (contracted over the chunk's positions in slices
// staged in shared memory, retention_tile.glsl). So each state is written once and nothing
// else goes through memory; grid (row tiles x column tiles, sequences x heads of the block).
// The next slice's values are loaded into registers while the current one is multiplied.
// a is [position][dim] in memory, which is already the [contraction][row] layout of the
// tile's A, and b [position][column] that of its B: both slices are staged with consecutive
// threads on consecutive addresses (coalesced loads, conflict-free shared stores), b times
// its weight. The scratch is laid out [block][chunks of the group][dk][dv].
#include "common.glsl"
#include "retention_common.glsl"
#include "retention_tile.glsl"

layout(constant_id = 3) const bool REVERSE = false;
layout(constant_id = 4) const bool FROM_ZERO = false;

layout(std430, set = 0, binding = 0) writeonly buffer Scratch { float scratch[]; };
layout(std430, set = 0, binding = 1) buffer State { float state[]; };  // [N * H][dk][dv]
layout(std430, set = 0, binding = 2) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 3) readonly buffer B { float b[]; };
layout(push_constant) uniform Push {
  uint T, H, dk, dv;
  uint chunk;        // B
  uint first_chunk;  // the group's first chunk within the sequence
  uint chunks;       // chunks in the group
  uint col_tiles;    // tiles of BN columns across dv
  uint first_nh;     // the block's first sequence x head (n * H + h)
  float scale;       // REVERSE: dk^-0.5
} pc;

const uint A_PER_THREAD = (KS * BM + NT - 1) / NT, B_PER_THREAD = (KS * BN + NT - 1) / NT;
float a_next[A_PER_THREAD], b_next[B_PER_THREAD];

// Loads the slice of positions j0 .. j0 + KS of the chunk at c0 (length len) into registers:
// A's rows row0.., B's columns col0.. times their weights.
void fetch(uint n, uint h, uint c0, uint len, uint j0, uint row0, uint col0, float log2_gamma) {
  const uint lid = gl_LocalInvocationIndex;
  [[unroll]] for (uint i = 0; i < A_PER_THREAD; ++i) {
    const uint e = lid + NT * i, j = j0 + e / BM, d = row0 + e % BM;
    a_next[i] = e < KS * BM && j < len && d < pc.dk ? a[retention_qk_index(n, c0 + j, h, d, pc.T, pc.H, pc.dk)] : 0.0;
  }
  [[unroll]] for (uint i = 0; i < B_PER_THREAD; ++i) {
    const uint e = lid + NT * i, j = j0 + e / BN, col = col0 + e % BN;
    float x = 0.0;
    if (e < KS * BN && j < len && col < pc.dv) {
      const float w = REVERSE ? pc.scale * decay_pow(log2_gamma, float(j)) : decay_pow(log2_gamma, float(len - 1 - j));
      x = w * b[retention_vo_index(n, c0 + j, h, col, pc.T, pc.H, pc.dv)];
    }
    b_next[i] = x;
  }
}

void put() {
  const uint lid = gl_LocalInvocationIndex;
  [[unroll]] for (uint i = 0; i < A_PER_THREAD; ++i) {
    const uint e = lid + NT * i;
    if (e < KS * BM) a_tile_put(e / BM, e % BM, a_next[i]);
  }
  [[unroll]] for (uint i = 0; i < B_PER_THREAD; ++i) {
    const uint e = lid + NT * i;
    if (e < KS * BN) b_tile_put(e / BN, e % BN, b_next[i]);
  }
}

void main() {
  const uint row0 = (gl_WorkGroupID.x / pc.col_tiles) * BM, col0 = (gl_WorkGroupID.x % pc.col_tiles) * BN;
  const uint bnh = gl_WorkGroupID.y, nh = pc.first_nh + bnh, n = nh / pc.H, h = nh % pc.H;
  const float log2_gamma = retention_log2_gamma(h);
  const uint matrix = pc.dk * pc.dv;

  // The tile: element (tile_row(i), tile_col(c)) in acc[i][c].
  vec4 acc[RM];
  tile_clear(acc);
  if (!FROM_ZERO) {
    [[unroll]] for (uint i = 0; i < RM; ++i) {
      const uint d = row0 + tile_row(i);
      [[unroll]] for (uint c = 0; c < 4; ++c) {
        const uint col = col0 + tile_col(c);
        if (d < pc.dk && col < pc.dv) acc[i][c] = state[nh * matrix + d * pc.dv + col];
      }
    }
  }

  for (uint i = 0; i < pc.chunks; ++i) {
    const uint gc = REVERSE ? pc.chunks - 1 - i : i;  // within the group
    const uint c0 = (pc.first_chunk + gc) * pc.chunk, len = min(pc.chunk, pc.T - c0);
    const uint base = (bnh * pc.chunks + gc) * matrix;
    [[unroll]] for (uint r = 0; r < RM; ++r) {
      const uint d = row0 + tile_row(r);
      [[unroll]] for (uint c = 0; c < 4; ++c) {
        const uint col = col0 + tile_col(c);
        if (d < pc.dk && col < pc.dv) scratch[base + d * pc.dv + col] = acc[r][c];
      }
    }
    const float decay = decay_pow(log2_gamma, float(len));
    [[unroll]] for (uint r = 0; r < RM; ++r) acc[r] *= decay;
    fetch(n, h, c0, len, 0, row0, col0, log2_gamma);
    for (uint j0 = 0; j0 < len; j0 += KS) {
      barrier();  // the previous slice is consumed
      put();
      barrier();
      if (j0 + KS < len) fetch(n, h, c0, len, j0 + KS, row0, col0, log2_gamma);  // in flight during the multiplies
      tile_accumulate(acc);
    }
  }

  if (!FROM_ZERO) {
    [[unroll]] for (uint i = 0; i < RM; ++i) {
      const uint d = row0 + tile_row(i);
      [[unroll]] for (uint c = 0; c < 4; ++c) {
        const uint col = col0 + tile_col(c);
        if (d < pc.dk && col < pc.dv) state[nh * matrix + d * pc.dv + col] = acc[i][c];
      }
    }
  }
}
