// Body of decode_matvec_f16/f32.comp: the matrix-vector products of one decode step (one row
// of activations), with the elementwise work around them fused in, so a layer's decode is a
// few dispatches instead of a dozen:
//   input   x itself, or RMSNorm(x) * norm_w (norm = 1, one group of K), or per group of
//           group_size (a head) RMSNorm(x) * norm_w * swish(gate) (norm = 2, RetNet's gated
//           head norm); the input is staged in shared memory once per workgroup;
//   output  up to four products y_m (+)= W_m x that share the input (q, k, v, g), or with
//           SWIGLU one output y_0 = swish(W_0 x) * (W_1 x) (the MLP's gate and up).
// Decode is bound by reading the weights, so each output row is one subgroup: its lanes read
// consecutive 16-byte pieces of the row (coalesced) and subgroupAdd the dot product. The
// input's loads are issued first (they are few, and every FMA waits for them), then the first
// PREFETCH weight pieces of the row, which travel while the input is normalised: one trip to
// memory before the first FMA. Any subgroup size works: PREFETCH and ROWS_PER_GROUP are planned
// for the host's subgroup size, and the loops below cover whatever the device runs.
// Defines: W_F16 (f16 weights read as uvec4s of 8 halves) or f32 weights (vec4s).
// The launcher (kernels/decode.cpp) guarantees K % CHUNK == 0 and group_size % 4 == 0.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint X_VECS = 512;   // shared vec4s for the input (>= K / 4)
layout(constant_id = 2) const uint PREFETCH = 8;   // weight pieces per lane loaded up front
layout(constant_id = 3) const bool SWIGLU = false;  // y0 = swish(W0 x) * (W1 x)
layout(constant_id = 4) const uint ROWS_PER_GROUP = 8;  // output rows per workgroup
layout(constant_id = 5) const uint INPUT_REGS = 1;  // input vec4s per thread loaded before the weights
layout(constant_id = 6) const uint SQ_VECS = 1;     // X_VECS when normalising, else 1 (unused)

layout(push_constant) uniform Push {
  uint K;
  uint rows0, rows1, rows2, rows3;  // rows of each product (0: unused)
  uint accumulate;                  // 1: y += W x
  uint norm;                        // 0: none, 1: RMSNorm, 2: gated group norm
  uint group_size;                  // elements per norm group
  float eps;
} pc;

#include "decode_input.glsl"

layout(std430, set = 0, binding = 0) buffer Y0 { float y0[]; };
layout(std430, set = 0, binding = 1) buffer Y1 { float y1[]; };
layout(std430, set = 0, binding = 2) buffer Y2 { float y2[]; };
layout(std430, set = 0, binding = 3) buffer Y3 { float y3[]; };
layout(std430, set = 0, binding = 4) readonly buffer X { vec4 x4[]; };
layout(std430, set = 0, binding = 5) readonly buffer Gate { vec4 gate4[]; };
layout(std430, set = 0, binding = 6) readonly buffer NormWeight { vec4 norm_w4[]; };
layout(std430, set = 0, binding = 7) readonly buffer W0 { WVEC w0[]; };
layout(std430, set = 0, binding = 8) readonly buffer W1 { WVEC w1[]; };
layout(std430, set = 0, binding = 9) readonly buffer W2 { WVEC w2[]; };
layout(std430, set = 0, binding = 10) readonly buffer W3 { WVEC w3[]; };

WVEC load_w(uint m, uint i) {
  switch (m) {
    case 0: return w0[i];
    case 1: return w1[i];
    case 2: return w2[i];
    default: return w3[i];
  }
}

void store_y(uint m, uint r, float v) {
  switch (m) {
    case 0: y0[r] = (pc.accumulate != 0 ? y0[r] : 0.0) + v; break;
    case 1: y1[r] = (pc.accumulate != 0 ? y1[r] : 0.0) + v; break;
    case 2: y2[r] = (pc.accumulate != 0 ? y2[r] : 0.0) + v; break;
    default: y3[r] = (pc.accumulate != 0 ? y3[r] : 0.0) + v; break;
  }
}

InputVec load_input(uint i) {
  InputVec v;
  v.x = x4[i];
  if (pc.norm != 0) v.w = norm_w4[i % (pc.group_size / 4)];  // a vec4 never straddles groups
  if (pc.norm == 2) v.gate = gate4[i];
  return v;
}

// Finishes staging the input in xs (see the top of the file), given the first INPUT_REGS vec4s
// of this thread already loaded.
void stage_input(InputVec first[INPUT_REGS]) {
  const uint t = gl_LocalInvocationIndex, threads = gl_WorkGroupSize.x, vecs = pc.K / 4;
  [[unroll]] for (uint j = 0; j < INPUT_REGS; ++j)
    if (t + j * threads < vecs) stage_vec(t + j * threads, first[j], pc.norm);
  for (uint i = t + INPUT_REGS * threads; i < vecs; i += threads) stage_vec(i, load_input(i), pc.norm);
  finish_staging(vecs, pc.norm, pc.group_size, pc.eps);
}

// Row `row` of the concatenated products: which product m it belongs to, and its row r there.
void locate(uint row, out uint m, out uint r) {
  m = 0;
  r = row;
  if (!SWIGLU) {
    const uint rows[4] = uint[4](pc.rows0, pc.rows1, pc.rows2, pc.rows3);
    while (m < 3 && r >= rows[m]) r -= rows[m++];
  }
}

void main() {
  const uint lane = gl_SubgroupInvocationID, sg = gl_SubgroupSize, pieces = pc.K / CHUNK;
  const uint total = SWIGLU ? pc.rows0 : pc.rows0 + pc.rows1 + pc.rows2 + pc.rows3;
  // Rows [first_row, end_row) belong to this workgroup, one per subgroup when the device runs
  // the subgroup size the host planned for (else the subgroups loop over them).
  const uint first_row = gl_WorkGroupID.x * ROWS_PER_GROUP, end_row = min(first_row + ROWS_PER_GROUP, total);

  InputVec first_input[INPUT_REGS];
  [[unroll]] for (uint j = 0; j < INPUT_REGS; ++j) {
    const uint i = gl_LocalInvocationIndex + j * gl_WorkGroupSize.x;
    if (i < pc.K / 4) first_input[j] = load_input(i);
  }
  uint row = first_row + gl_SubgroupID, m, r;
  locate(row, m, r);
  WVEC first[PREFETCH], first_up[PREFETCH];  // first_up: SWIGLU only
  [[unroll]] for (uint i = 0; i < PREFETCH; ++i) {
    const uint c = lane + i * sg;
    if (row < end_row && c < pieces) {
      first[i] = load_w(m, r * pieces + c);
      if (SWIGLU) first_up[i] = w1[r * pieces + c];
    }
  }
  stage_input(first_input);

  for (bool prefetched = true; row < end_row; row += gl_NumSubgroups, prefetched = false) {
    locate(row, m, r);
    const uint base = r * pieces;
    float acc = 0.0, acc_up = 0.0;
    uint c = lane;
    if (prefetched) dot_prefetched(first, first_up, SWIGLU, pieces, c, acc, acc_up);
    for (; c < pieces; c += sg) {
      acc += dot_piece(load_w(m, base + c), c);
      if (SWIGLU) acc_up += dot_piece(w1[base + c], c);
    }
    acc = subgroupAdd(acc);
    if (SWIGLU) acc_up = subgroupAdd(acc_up);
    if (subgroupElect()) store_y(m, r, SWIGLU ? swish(acc) * acc_up : acc);
  }
}
