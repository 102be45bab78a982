// The state layout of retention_recurrent, which carries the retention state S [dk, dv] of
// one (sequence, head) along the sequence, token by token (decode; the chunkwise form walks
// its chunks in parallel instead, see retention_chunk_*.comp).
//
// One workgroup = one (sequence, head) and 4 * BVS columns of S, with R * BVS threads that
// hold S in registers: thread (rg, cl) owns rows d = rg + R * i (i < DPT) of the 4 columns
// 4 * cl .. 4 * cl + 3 (a vec4 per row), so updating S needs no synchronisation and each
// k, q value read serves 4 columns. A product q . S[:, c] is summed over the R row groups
// through shared memory, for TB positions at a time (one pair of barriers per TB positions);
// with R = 1 a thread owns whole columns and writes its outputs directly.

layout(local_size_x_id = 0) in;              // R * BVS
layout(constant_id = 1) const uint BVS = 8;  // column lanes (4 columns each)
layout(constant_id = 2) const uint R = 1;    // row groups
layout(constant_id = 3) const uint DPT = 16; // state rows per thread: ceil(dk / R)
layout(constant_id = 4) const uint TB = 8;   // positions per reduction batch
const uint WG = R * BVS;

layout(std430, set = 0, binding = 0) buffer O { float o[]; };
layout(std430, set = 0, binding = 1) buffer S { float state[]; };
layout(std430, set = 0, binding = 2) readonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 3) readonly buffer K { float k[]; };
layout(std430, set = 0, binding = 4) readonly buffer V { float v[]; };
layout(push_constant) uniform Push {
  uint T, H, dk, dv;
  float scale;  // dk^-0.5
} pc;

shared vec4 partial[TB * WG];  // [TB][R][BVS]

uint lane_col() { return gl_LocalInvocationIndex % BVS; }
uint lane_group() { return gl_LocalInvocationIndex / BVS; }
uint first_column() { return 4 * (gl_WorkGroupID.x * BVS + lane_col()); }
uint sequence() { return gl_WorkGroupID.y / pc.H; }
uint head() { return gl_WorkGroupID.y % pc.H; }
uint state_row(uint i) { return lane_group() + R * i; }

void load_state(out vec4 s[DPT]) {
  const uint c0 = first_column(), base = gl_WorkGroupID.y * pc.dk;  // (n * H + h) * dk
  [[unroll]] for (uint i = 0; i < DPT; ++i) {
    const uint d = state_row(i);
    [[unroll]] for (uint c = 0; c < 4; ++c)
      s[i][c] = (d < pc.dk && c0 + c < pc.dv) ? state[(base + d) * pc.dv + c0 + c] : 0.0;
  }
}

void store_state(vec4 s[DPT]) {
  const uint c0 = first_column(), base = gl_WorkGroupID.y * pc.dk;
  [[unroll]] for (uint i = 0; i < DPT; ++i) {
    const uint d = state_row(i);
    [[unroll]] for (uint c = 0; c < 4; ++c)
      if (d < pc.dk && c0 + c < pc.dv) state[(base + d) * pc.dv + c0 + c] = s[i][c];
  }
}

// v[t] at this thread's 4 columns (0 beyond dv).
vec4 load_v(uint t) {
  const uint c0 = first_column();
  const uint base = retention_vo_index(sequence(), t, head(), 0, pc.T, pc.H, pc.dv);
  vec4 x;
  [[unroll]] for (uint c = 0; c < 4; ++c) x[c] = c0 + c < pc.dv ? v[base + c0 + c] : 0.0;
  return x;
}

// k[t] (or q[t]) at this thread's state rows (0 beyond dk).
float load_k(uint t, uint i) {
  const uint d = state_row(i);
  return d < pc.dk ? k[retention_qk_index(sequence(), t, head(), d, pc.T, pc.H, pc.dk)] : 0.0;
}
float load_q(uint t, uint i) {
  const uint d = state_row(i);
  return d < pc.dk ? q[retention_qk_index(sequence(), t, head(), d, pc.T, pc.H, pc.dk)] : 0.0;
}

// This thread's part of q_t . S[:, c] for its 4 columns.
vec4 partial_dot(uint t, vec4 s[DPT]) {
  vec4 p = vec4(0.0);
  [[unroll]] for (uint i = 0; i < DPT; ++i) p += load_q(t, i) * s[i];
  return p;
}

// o[t, c0 .. c0 + 3] = x, within dv.
void write_output(uint t, uint c0, vec4 x) {
  const uint base = retention_vo_index(sequence(), t, head(), 0, pc.T, pc.H, pc.dv);
  [[unroll]] for (uint c = 0; c < 4; ++c)
    if (c0 + c < pc.dv) o[base + c0 + c] = x[c];
}

// Hands this thread's partial dot p for batch slot `slot` (position t; `valid` if t is in
// range) to reduce_batch. With R = 1 it is the whole dot and goes out at once:
// o[t, c] = scale * p.
void emit(uint slot, uint t, vec4 p, bool valid) {
  if (R == 1) {
    if (valid) write_output(t, first_column(), pc.scale * p);
  } else {
    partial[slot * WG + gl_LocalInvocationIndex] = p;
  }
}

// Sums the partials of a batch of positions t = t0 + slot (slot < TB, t < t_end) over the row
// groups and writes o[t, c] = scale * sum.
void reduce_batch(uint t0, uint t_end) {
  if (R == 1) return;
  barrier();
  for (uint e = gl_LocalInvocationIndex; e < TB * BVS; e += WG) {
    const uint slot = e / BVS, cl = e % BVS, t = t0 + slot;
    if (t < t_end) {
      vec4 sum = vec4(0.0);
      for (uint r = 0; r < R; ++r) sum += partial[(slot * R + r) * BVS + cl];
      write_output(t, 4 * (gl_WorkGroupID.x * BVS + cl), pc.scale * sum);
    }
  }
  barrier();
}
