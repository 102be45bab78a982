#version 450
#extension GL_GOOGLE_include_directive : require
// Recurrent retention, token by token from `state` (left holding the final state):
//   S_t = gamma S_(t-1) + k_t^T v_t ;  o_t = scale * q_t S_t
// gamma S is computed as S - x S with x = 1 - gamma = 2^-(5+h): x S is exact, so every step
// rounds once and gamma carries no representation error that would compound over T steps.
#include "common.glsl"
#include "retention_common.glsl"
#include "retention_state.glsl"

void main() {
  const float x = retention_one_minus_gamma(head());
  vec4 s[DPT];
  load_state(s);

  for (uint t0 = 0; t0 < pc.T; t0 += TB) {
    for (uint slot = 0; slot < TB; ++slot) {
      const uint t = t0 + slot;
      vec4 p = vec4(0.0);
      if (t < pc.T) {
        const vec4 vt = load_v(t);
        [[unroll]] for (uint i = 0; i < DPT; ++i) s[i] = (s[i] - x * s[i]) + load_k(t, i) * vt;
        p = partial_dot(t, s);
      }
      emit(slot, t, p, t < pc.T);
    }
    reduce_batch(t0, pc.T);
  }
  store_state(s);
}
