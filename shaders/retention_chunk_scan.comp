#version 450
#extension GL_GOOGLE_include_directive : require
// Chunkwise retention between chunks, pass 2 of 3: the scan over the chunks of one group (for
// one block of sequences x heads).
// In the scratch, U_c (pass 1: the chunk's own contribution) becomes S_c, the state before
// chunk c, from the state `state` holds before the group:
//   S_first = state,  S_(c+1) = gamma^L S_c + U_c  (L = the length of chunk c)
// and `state` ends as the state after the group's last chunk (what the next group, or the
// next call, starts from).
// FROM_ZERO starts from a zero state and leaves `state` alone (the backward's states); with
// REVERSE the walk goes from the last chunk back (the reverse states: U_c becomes the state
// after chunk c, R_(c-1) = gamma^L R_c + U_c, L = the length of chunk c).
//
// One thread per (sequence x head, state element): the recurrence is elementwise, so the only
// sequential part is the walk over the group's chunks, and every thread reads and writes
// each of its scratch values once (grid: dk * dv / 256, sequences x heads of the block; 4096
// workgroups of 256 for a 1.3b layer). Consecutive threads take consecutive elements, so every access is coalesced.
// The next PREFETCH chunks' U are loaded before the state is updated and stored: the loads
// do not wait for the stores, which the compiler cannot prove distinct.
#include "common.glsl"
#include "retention_common.glsl"

layout(local_size_x = 256) in;
const uint PREFETCH = 4;
layout(constant_id = 0) const bool FROM_ZERO = false;
layout(constant_id = 1) const bool REVERSE = false;

layout(std430, set = 0, binding = 0) buffer U { float u[]; };  // [block][chunks][dk * dv]
layout(std430, set = 0, binding = 1) buffer S { float state[]; };  // [N * H][dk * dv]
layout(push_constant) uniform Push {
  uint T, H;
  uint elements;     // dk * dv
  uint chunk;        // B
  uint first_chunk;  // the group's first chunk within the sequence
  uint chunks;       // chunks in the group
  uint first_nh;     // the block's first sequence x head (n * H + h)
} pc;

void main() {
  const uint idx = gl_WorkGroupID.x * 256 + gl_LocalInvocationIndex;
  if (idx >= pc.elements) return;  // no barriers below
  const uint nh = pc.first_nh + gl_WorkGroupID.y, h = nh % pc.H;
  const float log2_gamma = retention_log2_gamma(h);
  const uint first = gl_WorkGroupID.y * pc.chunks * pc.elements + idx;  // U of the group's first chunk

  float s = FROM_ZERO ? 0.0 : state[nh * pc.elements + idx];
  for (uint i0 = 0; i0 < pc.chunks; i0 += PREFETCH) {
    float uc[PREFETCH];
    [[unroll]] for (uint i = 0; i < PREFETCH; ++i) {
      const uint c = REVERSE ? pc.chunks - 1 - (i0 + i) : i0 + i;
      uc[i] = i0 + i < pc.chunks ? u[first + c * pc.elements] : 0.0;
    }
    [[unroll]] for (uint i = 0; i < PREFETCH; ++i) {
      const uint c = REVERSE ? pc.chunks - 1 - (i0 + i) : i0 + i;
      if (i0 + i < pc.chunks) {
        const uint start = (pc.first_chunk + c) * pc.chunk, len = min(pc.chunk, pc.T - start);
        u[first + c * pc.elements] = s;
        s = decay_pow(log2_gamma, float(len)) * s + uc[i];
      }
    }
  }
  if (!FROM_ZERO) state[nh * pc.elements + idx] = s;
}
