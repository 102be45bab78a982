#version 450
#extension GL_GOOGLE_include_directive : require
// Retention backward, pass 1: the per-chunk states of each (sequence, head), from a zero
// initial state. Chunk c covers positions [c0, c0 + L) (c0 = c * B; L = B or less for the last).
//   z = 0, forward states:  fwd[c] = state before chunk c (fwd[0] = 0),
//          fwd[c + 1] = gamma^L fwd[c] + sum_j gamma^(L-1-j) k_j^T v_j
//   z = 1, reverse states:  rev[c] = sum over positions n after chunk c of gamma^(n - c0 - L) scale q_n^T dO_n
//          (rev[C-1] = 0),  rev[c - 1] = gamma^L rev[c] + sum_j gamma^j scale q_j^T dO_j  (j over chunk c)
// One thread per state element (d, e) of the dk x dv matrix; chunks in sequence. The states
// are laid out [N * H, C, dk, dv].
#include "common.glsl"
#include "retention_common.glsl"

layout(local_size_x = 64) in;
// Positions whose loads are issued together: each step of the sum waits on the last, so
// without this every load's latency is paid in turn (the sums keep their order).
const uint UNROLL = 8;

layout(std430, set = 0, binding = 0) writeonly buffer Fwd { float fwd[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Rev { float rev[]; };
layout(std430, set = 0, binding = 2) readonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 3) readonly buffer K { float k[]; };
layout(std430, set = 0, binding = 4) readonly buffer V { float v[]; };
layout(std430, set = 0, binding = 5) readonly buffer DO { float d_o[]; };
layout(push_constant) uniform Push {
  uint T, H, dk, dv;
  uint chunk, chunks;
  float scale;
} pc;

void main() {
  const uint idx = gl_WorkGroupID.x * 64 + gl_LocalInvocationIndex;
  if (idx >= pc.dk * pc.dv) return;  // no barriers below
  const uint d = idx / pc.dv, e = idx % pc.dv;
  const uint nh = gl_WorkGroupID.y, n = nh / pc.H, h = nh % pc.H;
  const float log2_gamma = retention_log2_gamma(h);
  const uint matrix = pc.dk * pc.dv;
  float s = 0.0;
  if (gl_WorkGroupID.z == 0) {
    for (uint c = 0; c < pc.chunks; ++c) {
      const uint c0 = c * pc.chunk, len = min(pc.chunk, pc.T - c0);
      fwd[(nh * pc.chunks + c) * matrix + idx] = s;
      s *= decay_pow(log2_gamma, float(len));
      uint j = 0;
      for (; j + UNROLL <= len; j += UNROLL) {
        float kd[UNROLL], ve[UNROLL];
        [[unroll]] for (uint u = 0; u < UNROLL; ++u) {
          kd[u] = k[retention_qk_index(n, c0 + j + u, h, d, pc.T, pc.H, pc.dk)];
          ve[u] = v[retention_vo_index(n, c0 + j + u, h, e, pc.T, pc.H, pc.dv)];
        }
        [[unroll]] for (uint u = 0; u < UNROLL; ++u) s += decay_pow(log2_gamma, float(len - 1 - j - u)) * kd[u] * ve[u];
      }
      for (; j < len; ++j) {
        const float kd = k[retention_qk_index(n, c0 + j, h, d, pc.T, pc.H, pc.dk)];
        const float ve = v[retention_vo_index(n, c0 + j, h, e, pc.T, pc.H, pc.dv)];
        s += decay_pow(log2_gamma, float(len - 1 - j)) * kd * ve;
      }
    }
  } else {
    for (uint c = pc.chunks; c-- > 0;) {
      const uint c0 = c * pc.chunk, len = min(pc.chunk, pc.T - c0);
      rev[(nh * pc.chunks + c) * matrix + idx] = s;
      s *= decay_pow(log2_gamma, float(len));
      uint j = 0;
      for (; j + UNROLL <= len; j += UNROLL) {
        float qd[UNROLL], de[UNROLL];
        [[unroll]] for (uint u = 0; u < UNROLL; ++u) {
          qd[u] = q[retention_qk_index(n, c0 + j + u, h, d, pc.T, pc.H, pc.dk)];
          de[u] = d_o[retention_vo_index(n, c0 + j + u, h, e, pc.T, pc.H, pc.dv)];
        }
        [[unroll]] for (uint u = 0; u < UNROLL; ++u) s += pc.scale * decay_pow(log2_gamma, float(j + u)) * qd[u] * de[u];
      }
      for (; j < len; ++j) {
        const float qd = q[retention_qk_index(n, c0 + j, h, d, pc.T, pc.H, pc.dk)];
        const float de = d_o[retention_vo_index(n, c0 + j, h, e, pc.T, pc.H, pc.dv)];
        s += pc.scale * decay_pow(log2_gamma, float(j)) * qd * de;
      }
    }
  }
}
