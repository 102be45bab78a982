#version 450
#extension GL_GOOGLE_include_directive : require
// Retention in the parallel form:
//   o_n = sum_{m <= n} gamma^(n-m) * scale * (q_n . k_m) v_m      (overwrites o)
//
// One workgroup = BQ query rows x BV value columns of one (sequence, head), TX x TY threads.
// It walks key tiles of BK keys; for each:
//   scores  s = q k^T (BQ x BK), from slices of DS dims of q and k staged in shared memory
//           (q only once if dk <= DS), each thread a register block of RQ rows x RK keys;
//   decay   s * scale * gamma^(n-m), masked to m <= n, to shared memory,
//           next to the v tile (stored transposed, so both operands below are vec4 reads
//           along the key dimension);
//   output  acc += s v, each thread a register block of RQ rows x RV columns.
// Rows, keys and columns of a thread's block are strided by TY or TX, and shared rows are
// padded by 4 floats, so the vec4 reads of a warp hit distinct banks or broadcast.
#include "common.glsl"
#include "retention_common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1) in;  // TX x TY threads
layout(constant_id = 2) const uint RQ = 8;   // query rows per thread   (BQ = TY * RQ)
layout(constant_id = 3) const uint RK = 4;   // keys per thread         (BK = TX * RK)
layout(constant_id = 4) const uint RV = 8;   // value columns per thread (BV = TX * RV)
layout(constant_id = 5) const uint DS = 16;  // dk slice staged at a time (multiple of 4)
const uint TX = gl_WorkGroupSize.x, TY = gl_WorkGroupSize.y, NT = TX * TY;
const uint BQ = TY * RQ, BK = TX * RK, BV = TX * RV;
const uint DSP = DS + 4;  // padded row length of the staged q and k slices
const uint BKP = BK + 4;  // padded row length of the scores and of v^T

layout(std430, set = 0, binding = 0) writeonly buffer O { float o[]; };
layout(std430, set = 0, binding = 1) readonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 2) readonly buffer K { float k[]; };
layout(std430, set = 0, binding = 3) readonly buffer V { float v[]; };
layout(push_constant) uniform Push {
  uint T, H, dk, dv;
  float scale;  // dk^-0.5
} pc;

// q_slice [BQ][DSP] holds q (for the whole run when dk <= DS); `stage` holds the k slice
// [BK][DSP] while scores are computed, then v^T [BV][BKP] for the output; `scores` holds the
// decayed scores [BQ][BKP].
const uint STAGE_FLOATS = BK * DSP > BV * BKP ? BK * DSP : BV * BKP;
shared vec4 q_slice[BQ * DSP / 4];
shared vec4 stage[STAGE_FLOATS / 4];
shared vec4 scores[BQ * BKP / 4];

void stage_float(uint index, float x) { stage[index / 4][index % 4] = x; }
void q_slice_float(uint index, float x) { q_slice[index / 4][index % 4] = x; }

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y, lid = gl_LocalInvocationIndex;
  const uint T = pc.T, H = pc.H, dk = pc.dk, dv = pc.dv;
  const uint q0 = gl_WorkGroupID.x * BQ, c0 = gl_WorkGroupID.y * BV;
  const uint n = gl_WorkGroupID.z / H, h = gl_WorkGroupID.z % H;
  const float log2_gamma = retention_log2_gamma(h);
  const uint q_end = min(q0 + BQ, T);

  // Keys further back than `horizon` from every query row have a decay below 2^-150, i.e.
  // exactly 0 in fp32: skip them.
  uint k_begin = 0;
  const float horizon = 150.0 / -log2_gamma;
  if (horizon < float(q0)) k_begin = q0 - uint(horizon);

  float acc[RQ][RV];
  [[unroll]] for (uint i = 0; i < RQ; ++i)
    [[unroll]] for (uint j = 0; j < RV; ++j) acc[i][j] = 0.0;

  for (uint k0 = k_begin; k0 < q_end; k0 += BK) {
    float s[RQ][RK];
    [[unroll]] for (uint i = 0; i < RQ; ++i)
      [[unroll]] for (uint j = 0; j < RK; ++j) s[i][j] = 0.0;
    for (uint d0 = 0; d0 < dk; d0 += DS) {
      barrier();  // the previous contents of `stage` and `scores` are consumed
      if (dk > DS || k0 == k_begin) {  // with a single slice, q stays from the first key tile
        for (uint e = lid; e < BQ * DS; e += NT) {
          const uint r = e / DS, d = e % DS, t = q0 + r;
          q_slice_float(r * DSP + d, (t < T && d0 + d < dk) ? q[retention_qk_index(n, t, h, d0 + d, T, H, dk)] : 0.0);
        }
      }
      for (uint e = lid; e < BK * DS; e += NT) {
        const uint r = e / DS, d = e % DS, t = k0 + r;
        stage_float(r * DSP + d, (t < T && d0 + d < dk) ? k[retention_qk_index(n, t, h, d0 + d, T, H, dk)] : 0.0);
      }
      barrier();
      for (uint d4 = 0; d4 < DS / 4; ++d4) {
        vec4 a[RQ], b[RK];
        [[unroll]] for (uint i = 0; i < RQ; ++i) a[i] = q_slice[(ty + TY * i) * (DSP / 4) + d4];
        [[unroll]] for (uint j = 0; j < RK; ++j) b[j] = stage[(tx + TX * j) * (DSP / 4) + d4];
        [[unroll]] for (uint i = 0; i < RQ; ++i)
          [[unroll]] for (uint j = 0; j < RK; ++j) s[i][j] += dot(a[i], b[j]);
      }
    }
    barrier();  // the k slice is consumed: `stage` can take v^T
    [[unroll]] for (uint i = 0; i < RQ; ++i) {
      const uint r = ty + TY * i, row = q0 + r;
      [[unroll]] for (uint j = 0; j < RK; ++j) {
        const uint key = tx + TX * j, m = k0 + key;
        const bool valid = row < T && m <= row;
        const uint index = r * BKP + key;
        scores[index / 4][index % 4] = valid ? s[i][j] * pc.scale * decay_pow(log2_gamma, float(row - m)) : 0.0;
      }
    }
    for (uint e = lid; e < BK * BV; e += NT) {
      const uint key = e / BV, c = e % BV, t = k0 + key, col = c0 + c;
      stage_float(c * BKP + key, (t < T && col < dv) ? v[retention_vo_index(n, t, h, col, T, H, dv)] : 0.0);
    }
    barrier();
    const uint key_quads = (min(BK, q_end - k0) + 3) / 4;  // later keys are masked for every row
    for (uint k4 = 0; k4 < key_quads; ++k4) {
      vec4 a[RQ], b[RV];
      [[unroll]] for (uint i = 0; i < RQ; ++i) a[i] = scores[(ty + TY * i) * (BKP / 4) + k4];
      [[unroll]] for (uint j = 0; j < RV; ++j) b[j] = stage[(tx + TX * j) * (BKP / 4) + k4];
      [[unroll]] for (uint i = 0; i < RQ; ++i)
        [[unroll]] for (uint j = 0; j < RV; ++j) acc[i][j] += dot(a[i], b[j]);
    }
  }

  [[unroll]] for (uint i = 0; i < RQ; ++i) {
    const uint row = q0 + ty + TY * i;
    [[unroll]] for (uint j = 0; j < RV; ++j) {
      const uint col = c0 + tx + TX * j;
      if (row < T && col < dv) o[retention_vo_index(n, row, h, col, T, H, dv)] = acc[i][j];
    }
  }
}
