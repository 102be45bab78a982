// Body of retention_decode.comp and retention_decode_states.comp. One decode step of retention
// (T = 1) with rotary fused in, for each (sequence n, head h):
//   q' = rotary(q, t_n), k' = rotary(k, t_n)            (t_n = positions[n])
//   S = gamma S + k'^T v ;  o = scale * q' S
// This replaces three dispatches (rotary of q, rotary of k, the recurrent pass) on the decode
// path, and spreads the state over many more threads than the recurrent pass does: decode
// reads and writes the whole f32 state once per step, so it is bound by memory bandwidth and
// needs many loads in flight.
//
// Workgroup (x: column block, y: n * H + h of the state): CQ column quads (4 columns each) x RG row
// groups; thread (rg, cq) owns state rows d = rg + RG * i (i < DPT) of its 4 columns, so a
// subgroup's lanes read whole runs of a state row. The thread's state is loaded first, then
// q' and k' are rotated once per workgroup into shared memory while those loads travel.
// o sums the threads' partial q'.S over the row groups in shared memory.
// gamma S is S - x S with x = 1 - gamma = 2^-(5+h), exact, like retention_recurrent.
//
// With SEQUENCE_STATES (retention_decode_states.comp), binding 1 is an array of MAX_SEQUENCES
// buffers, sequence j's own state [H, dk, dv] in buffer j (a batched decode step updates each
// session's state where it lies, many sessions in one dispatch); dv % 4 == 0 there. Else it
// is one buffer [sequences, H, dk, dv].
#include "common.glsl"
#include "retention_common.glsl"

layout(local_size_x_id = 0) in;               // CQ * RG
layout(constant_id = 1) const uint CQ = 8;    // column quads per workgroup
layout(constant_id = 2) const uint RG = 32;   // row groups (a power of two)
layout(constant_id = 3) const uint DPT = 8;   // rows per thread: ceil(dk / RG)
layout(constant_id = 4) const bool ALIGNED = false;  // dv % 4 == 0: the state is read as vec4s
const uint WG = CQ * RG;

layout(std430, set = 0, binding = 0) writeonly buffer O { float o[]; };
#ifdef SEQUENCE_STATES
#define MAX_SEQUENCES 16  // kernels::kStatesPerDispatch
layout(std430, set = 0, binding = 1) buffer S4 { vec4 v[]; } states4[MAX_SEQUENCES];
#define STATE4(i) states4[seq].v[i]
#define STATE(i) states4[seq].v[(i) / 4][(i) % 4]
#else
layout(std430, set = 0, binding = 1) buffer S { float state[]; };
layout(std430, set = 0, binding = 1) buffer S4 { vec4 state4[]; };
#define STATE4(i) state4[i]
#define STATE(i) state[i]
#endif
layout(std430, set = 0, binding = 2) readonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 3) readonly buffer K { float k[]; };
layout(std430, set = 0, binding = 4) readonly buffer V { float v[]; };
layout(std430, set = 0, binding = 5) readonly buffer Positions { int positions[]; };
layout(push_constant) uniform Push {
  uint H, dk, dv;
  float scale;            // dk^-0.5
  vec2 turns_per_radian;  // rotary constants (rotary_angle.glsl)
  vec2 ratio_powers[10];
  uint first;  // the state's sequence 0 is sequence `first` of q, k, v, positions and o
} pc;

#include "rotary_angle.glsl"

shared float qs[DPT * RG], ks[DPT * RG];
shared vec4 partial[WG];  // [row group][column quad]
#include "retention_row_groups.glsl"  // sum_row_groups

void main() {
  const uint t = gl_LocalInvocationIndex, state_nh = gl_WorkGroupID.y, h = state_nh % pc.H;
  const uint nh = pc.first * pc.H + state_nh, n = nh / pc.H;
  const uint qk_base = nh * pc.dk;  // q, k are [N, 1, H, dk]

  const uint cq = t % CQ, rg = t / CQ, c0 = 4 * (gl_WorkGroupID.x * CQ + cq);
#ifdef SEQUENCE_STATES
  const uint seq = state_nh / pc.H, v_base = nh * pc.dv, s_base = h * pc.dk * pc.dv;
#else
  const uint v_base = nh * pc.dv, s_base = state_nh * pc.dk * pc.dv;
#endif
  const float x = retention_one_minus_gamma(h);
  vec4 vt = vec4(0.0);
  [[unroll]] for (uint c = 0; c < 4; ++c)
    if (c0 + c < pc.dv) vt[c] = v[v_base + c0 + c];

  // The state first: its loads travel while q and k are rotated.
  vec4 s[DPT];
  [[unroll]] for (uint i = 0; i < DPT; ++i) {
    const uint d = rg + RG * i, at = s_base + d * pc.dv + c0;
    s[i] = vec4(0.0);
    if (d < pc.dk && c0 < pc.dv) {
      if (ALIGNED) {
        s[i] = STATE4(at / 4);
      } else {
        [[unroll]] for (uint c = 0; c < 4; ++c)
          if (c0 + c < pc.dv) s[i][c] = STATE(at + c);
      }
    }
  }

  ROTATE_QK_INTO_SHARED(positions[n], qk_base, t, WG);
  barrier();

  vec4 p = vec4(0.0);
  [[unroll]] for (uint i = 0; i < DPT; ++i) {
    const uint d = rg + RG * i, at = s_base + d * pc.dv + c0;
    if (d < pc.dk && c0 < pc.dv) {
      s[i] = (s[i] - x * s[i]) + ks[d] * vt;
      if (ALIGNED) {
        STATE4(at / 4) = s[i];
      } else {
        [[unroll]] for (uint c = 0; c < 4; ++c)
          if (c0 + c < pc.dv) STATE(at + c) = s[i][c];
      }
      p += qs[d] * s[i];
    }
  }

  sum_row_groups(p, t, rg);
  if (rg == 0) {
    [[unroll]] for (uint c = 0; c < 4; ++c)
      if (c0 + c < pc.dv) o[v_base + c0 + c] = pc.scale * partial[cq][c];
  }
}
