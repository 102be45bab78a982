// Shared body of the two shaders that carry the retention state S [dk, dv] of one
// (sequence, head) along the sequence: retention_inter (chunk by chunk) and
// retention_recurrent (token by token).
//
// One workgroup = one (sequence, head) and BVS columns of S. Its R * BVS threads hold S in
// registers: thread (rg, c) owns rows d = rg + R * i (i < DPT) of column c, so updating S
// needs no synchronisation. A product q . S[:, c] is summed over the R row groups through
// shared memory, for TB positions at a time (one pair of barriers per TB positions); with
// R = 1 a thread owns a whole column and writes its outputs directly.

layout(local_size_x_id = 0) in;              // R * BVS
layout(constant_id = 1) const uint BVS = 32; // state columns per workgroup
layout(constant_id = 2) const uint R = 1;    // row groups
layout(constant_id = 3) const uint DPT = 32; // state rows per thread: ceil(dk / R)
layout(constant_id = 4) const uint TB = 8;   // positions per reduction batch
const uint WG = R * BVS;

layout(std430, set = 0, binding = 0) buffer O { float o[]; };
layout(std430, set = 0, binding = 1) buffer S { float state[]; };
layout(std430, set = 0, binding = 2) readonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 3) readonly buffer K { float k[]; };
layout(std430, set = 0, binding = 4) readonly buffer V { float v[]; };
layout(push_constant) uniform Push {
  uint T, H, dk, dv;
  uint chunk;   // chunk size (retention_inter only)
  float scale;  // dk^-0.5
} pc;

shared float partial[TB * WG];  // [TB][R][BVS]

uint lane_col() { return gl_LocalInvocationIndex % BVS; }
uint lane_group() { return gl_LocalInvocationIndex / BVS; }
uint column() { return gl_WorkGroupID.x * BVS + lane_col(); }
uint sequence() { return gl_WorkGroupID.y / pc.H; }
uint head() { return gl_WorkGroupID.y % pc.H; }
uint state_row(uint i) { return lane_group() + R * i; }

void load_state(out float s[DPT]) {
  const uint c = column(), base = gl_WorkGroupID.y * pc.dk;  // (n * H + h) * dk
  [[unroll]] for (uint i = 0; i < DPT; ++i) {
    const uint d = state_row(i);
    s[i] = (d < pc.dk && c < pc.dv) ? state[(base + d) * pc.dv + c] : 0.0;
  }
}

void store_state(float s[DPT]) {
  const uint c = column(), base = gl_WorkGroupID.y * pc.dk;
  [[unroll]] for (uint i = 0; i < DPT; ++i) {
    const uint d = state_row(i);
    if (d < pc.dk && c < pc.dv) state[(base + d) * pc.dv + c] = s[i];
  }
}

// This thread's part of q_t . S[:, c].
float partial_dot(uint t, float s[DPT]) {
  const uint n = sequence(), h = head();
  float p = 0.0;
  [[unroll]] for (uint i = 0; i < DPT; ++i) {
    const uint d = state_row(i);
    if (d < pc.dk) p += q[retention_qk_index(n, t, h, d, pc.T, pc.H, pc.dk)] * s[i];
  }
  return p;
}

// Hands this thread's partial dot p for batch slot `slot` (position t; `valid` if t is in
// range) to reduce_batch. With R = 1 it is the whole dot and goes out at once:
// o[t, c] (+)= factor * p.
void emit(uint slot, uint t, float p, float factor, bool valid, bool accumulate) {
  if (R == 1) {
    const uint c = column();
    if (valid && c < pc.dv) {
      const uint idx = retention_vo_index(sequence(), t, head(), c, pc.T, pc.H, pc.dv);
      o[idx] = factor * p + (accumulate ? o[idx] : 0.0);
    }
  } else {
    partial[(slot * R + lane_group()) * BVS + lane_col()] = p;
  }
}

// Sums the partials of a batch of positions t = t0 + slot (slot < TB, t < t_end) over the row
// groups and writes o[t, c] (+)= scale * gamma^(first_power + slot) * sum, where gamma^x is
// exp2(x * log2_decay) (log2_decay = 0: no decay).
void reduce_batch(uint t0, uint t_end, float log2_decay, uint first_power, bool accumulate) {
  if (R == 1) return;
  barrier();
  for (uint e = gl_LocalInvocationIndex; e < TB * BVS; e += WG) {
    const uint slot = e / BVS, cl = e % BVS;
    const uint t = t0 + slot, c = gl_WorkGroupID.x * BVS + cl;
    if (t < t_end && c < pc.dv) {
      float sum = 0.0;
      for (uint r = 0; r < R; ++r) sum += partial[(slot * R + r) * BVS + cl];
      const float factor = pc.scale * decay_pow(log2_decay, float(first_power + slot));
      const uint idx = retention_vo_index(sequence(), t, head(), c, pc.T, pc.H, pc.dv);
      o[idx] = factor * sum + (accumulate ? o[idx] : 0.0);
    }
  }
  barrier();
}
