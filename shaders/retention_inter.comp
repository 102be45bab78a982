#version 450
#extension GL_GOOGLE_include_directive : require
// Chunkwise retention, the part between chunks: walks the chunks of B = pc.chunk positions in
// order, carrying the state S (starting from `state`, leaving the final one there). For each
// chunk, with j the position within it and L its length (B, or less for the last one):
//   o_n += scale * gamma^(j+1) * q_n S_prev                (o holds the intra-chunk part)
//   S_next = gamma^L S_prev + sum_j gamma^(L-1-j) k_j^T v_j
#include "common.glsl"
#include "retention_common.glsl"
#include "retention_state.glsl"

void main() {
  const float log2_gamma = retention_log2_gamma(head());
  vec4 s[DPT];
  load_state(s);

  for (uint c0 = 0; c0 < pc.T; c0 += pc.chunk) {
    const uint len = min(pc.chunk, pc.T - c0);
    // Outputs from the state the chunk starts with.
    for (uint j0 = 0; j0 < len; j0 += TB) {
      for (uint slot = 0; slot < TB; ++slot) {
        const uint j = j0 + slot;
        const vec4 p = j < len ? partial_dot(c0 + j, s) : vec4(0.0);
        emit(slot, c0 + j, p, pc.scale * decay_pow(log2_gamma, float(j + 1)), j < len, true);
      }
      reduce_batch(c0 + j0, c0 + len, log2_gamma, j0 + 1, true);
    }
    // The state after the chunk.
    const float chunk_decay = decay_pow(log2_gamma, float(len));
    [[unroll]] for (uint i = 0; i < DPT; ++i) s[i] *= chunk_decay;
    for (uint j = 0; j < len; ++j) {
      const vec4 w = decay_pow(log2_gamma, float(len - 1 - j)) * load_v(c0 + j);
      [[unroll]] for (uint i = 0; i < DPT; ++i) s[i] += load_k(c0 + j, i) * w;
    }
  }
  store_state(s);
}
