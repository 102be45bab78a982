#version 450
#extension GL_GOOGLE_include_directive : require
// retention_chunk_states on tensor cores: the same states at the chunk borders of one group of
// chunks, in the same notation (see retention_chunk_states.comp), for chunks of B = 64:
//   forward   S_(c+1) = gamma^L S_c + A_c^T (W B_c),  W = diag(gamma^(L-1-j)); the scratch
//             gets S_c, `state` starts the walk (or zero: FROM_ZERO) and ends as its last state;
//   REVERSE   R_(c-1) = gamma^L R_c + A_c^T (W B_c),  W = diag(scale gamma^j), from zero,
//             walking back; the scratch gets R_c.
// One workgroup of TR / 16 subgroups (2 TR threads) holds a TR x TC tile of the state in f32
// accumulators, 16 rows per subgroup, while it walks the chunks in order: per chunk it stores
// the tile, decays it and adds the chunk's product, whose A and B are staged in shared memory
// as f16 (the next chunk's loads in flight during the products). Grid (tiles of the state,
// 1, sequences x heads of the block); the scratch is [block][chunks of the group][dk][dv].
// SCALED multiplies A and B by powers of two from their maxima (f16_scaling.glsl; binding 4,
// slots in pc.slots) before the rounding, so that gradients of 1e-8 and large values stay in
// f16's range, and the accumulators hold the state times both factors, undone exactly where
// it is stored. Without it (prefill of f16 models) the operands are rounded as they are.
// With OUTPUT_MAXIMA (output_maxima.glsl, binding 4 like the operands' maxima), max |x| of the
// states written goes to the slot given there. With STORE_F16 the scratch gets the states
// rounded to f16 (for a reader that would round them so anyway: half the bytes to write and
// read); the walk itself and `state` stay f32.
// The launcher (kernels/retention_chunk_passes.cpp) guarantees subgroups of 32, 16 x 16 x 16
// fragments, dk % TR == 0 and dv % TC == 0.
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"
#include "retention_common.glsl"
#include "f16_scaling.glsl"

#define SCOPE_SUBGROUP 3  // gl_ScopeSubgroup, spelled as its value (see matmul_coopmat.glsl)
#define B 64              // chunk length

layout(local_size_x_id = 0) in;               // 2 TR threads: TR / 16 subgroups of 32
layout(constant_id = 1) const uint TC = 64;   // tile columns: 32 or 64
layout(constant_id = 2) const bool REVERSE = false;
layout(constant_id = 3) const bool FROM_ZERO = false;
layout(constant_id = 4) const bool SCALED = false;
#define OUTPUT_MAXIMA_BINDING 4
#define OUTPUT_MAXIMA_CONSTANT 5
#include "output_maxima.glsl"
layout(constant_id = 7) const bool STORE_F16 = false;
const uint THREADS = gl_WorkGroupSize.x, TR = THREADS / 2;
const uint LDA4 = (TR + 8) / 4, LDB4 = (TC + 8) / 4;  // staged row strides in uvec2s of 4 halves

layout(std430, set = 0, binding = 0) writeonly buffer Scratch { float u[]; };
layout(std430, set = 0, binding = 0) writeonly buffer ScratchF16 { uvec2 u4[]; };  // 4 halves each
layout(std430, set = 0, binding = 1) buffer State { float st[]; };  // [N, H, dk, dv]
layout(std430, set = 0, binding = 2) readonly buffer Am { vec4 a4[]; };
layout(std430, set = 0, binding = 3) readonly buffer Bm { vec4 b4[]; };
layout(std430, set = 0, binding = 4) readonly buffer Maxima { uint maxima[]; };  // SCALED's
layout(push_constant) uniform Push {
  uint T, H, dk, dv;
  uint first_chunk;  // the group's first chunk within the sequence
  uint chunks;       // chunks in the group
  uint first_nh;     // the block's first sequence x head (n * H + h)
  float scale;       // REVERSE: dk^-0.5
  uint slots;        // SCALED: the maxima slots of A and B, a byte each
} pc;

shared uvec2 a_tile[B * LDA4];  // A of the chunk, [position][row], f16
shared uvec2 b_tile[B * LDB4];  // B of the chunk times its weights, [position][column], f16

// The next chunk's A and B (f32, unweighted) travel through registers while the current chunk
// is multiplied.
const uint A_LOADS = B * (TR / 4) / THREADS, B_LOADS = B * (TC / 4) / THREADS;
vec4 a_next[A_LOADS], b_next[B_LOADS];

// The B x TR block at rows d0 of A and the B x TC block at columns e0 of B for the chunk at c0
// (zeros past T).
void fetch(uint n, uint h, uint c0, uint d0, uint e0) {
  [[unroll]] for (uint i = 0; i < A_LOADS; ++i) {
    const uint idx = gl_LocalInvocationIndex + i * THREADS, j = idx / (TR / 4), c = idx % (TR / 4);
    a_next[i] = c0 + j < pc.T ? a4[(((n * pc.T + c0 + j) * pc.H + h) * pc.dk + d0) / 4 + c] : vec4(0.0);
  }
  [[unroll]] for (uint i = 0; i < B_LOADS; ++i) {
    const uint idx = gl_LocalInvocationIndex + i * THREADS, j = idx / (TC / 4), c = idx % (TC / 4);
    b_next[i] = c0 + j < pc.T ? b4[(((n * pc.T + c0 + j) * pc.H + h) * pc.dv + e0) / 4 + c] : vec4(0.0);
  }
}

uvec2 pack4(vec4 x) { return uvec2(packHalf2x16(x.xy), packHalf2x16(x.zw)); }

#define ACC fcoopmatNV<32, SCOPE_SUBGROUP, 16, 16>
#define FRAG fcoopmatNV<16, SCOPE_SUBGROUP, 16, 16>
// The subgroup's accumulators, s_0 .. s_3: 16 rows x TC columns, TC / 16 of them in use (the
// last two are dead code where TC is 32). Named variables, not an array (see
// coopmat_block.glsl).
#define EACH_BLOCK(F) \
  F(0) F(1)           \
  if (TC == 64) {     \
    F(2) F(3)         \
  }

void main() {
  const uint sg = gl_SubgroupID;
  const uint col_tiles = pc.dv / TC;
  const uint d0 = (gl_WorkGroupID.x / col_tiles) * TR, e0 = (gl_WorkGroupID.x % col_tiles) * TC;
  const uint nh = pc.first_nh + gl_WorkGroupID.z, n = nh / pc.H, h = nh % pc.H;
  const float log2_gamma = retention_log2_gamma(h);
  const uint row0 = d0 + 16 * sg;  // this subgroup's state rows
  float a_factor = 1.0, b_factor = 1.0;
  if (SCALED) {
    a_factor = exp2(scale_exponent(maxima[pc.slots & 0xffu]));
    b_factor = exp2(scale_exponent(maxima[(pc.slots >> 8) & 0xffu]));
  }
  // The accumulators hold the state times a_factor b_factor (exact powers of two).
  const float to_acc = a_factor * b_factor, from_acc = 1.0 / to_acc;

  ACC s_0 = ACC(0.0), s_1 = ACC(0.0), s_2 = ACC(0.0), s_3 = ACC(0.0);
  if (!FROM_ZERO) {
#define LOAD_S(j)                                                                         \
  coopMatLoadNV(s_##j, st, (nh * pc.dk + row0) * pc.dv + e0 + 16 * (j), pc.dv, false); \
  if (SCALED) s_##j = s_##j * to_acc;
    EACH_BLOCK(LOAD_S)
  }

  const uint first = REVERSE ? pc.chunks - 1 : 0;
  fetch(n, h, (pc.first_chunk + first) * B, d0, e0);
  for (uint i = 0; i < pc.chunks; ++i) {
    const uint gc = REVERSE ? pc.chunks - 1 - i : i;  // within the group
    const uint c0 = (pc.first_chunk + gc) * B, len = min(B, pc.T - c0);
    const uint slot = (gl_WorkGroupID.z * pc.chunks + gc) * pc.dk + row0;
#define STORE_U(j)                                                                            \
  {                                                                                           \
    ACC x = SCALED ? s_##j * from_acc : s_##j;                                                \
    if (STORE_F16)                                                                            \
      coopMatStoreNV(FRAG(x), u4, (slot * pc.dv + e0 + 16 * (j)) / 4, pc.dv / 4, false);      \
    else                                                                                      \
      coopMatStoreNV(x, u, slot * pc.dv + e0 + 16 * (j), pc.dv, false);                       \
    if (OUTPUT_MAXIMA > 0)                                                                    \
      for (int e = 0; e < x.length(); ++e) note_output(0, x[e]);                              \
  }
    EACH_BLOCK(STORE_U)

    [[unroll]] for (uint k = 0; k < A_LOADS; ++k) {
      const uint idx = gl_LocalInvocationIndex + k * THREADS;
      a_tile[(idx / (TR / 4)) * LDA4 + idx % (TR / 4)] = pack4(a_next[k] * a_factor);
    }
    [[unroll]] for (uint k = 0; k < B_LOADS; ++k) {
      const uint idx = gl_LocalInvocationIndex + k * THREADS, j = idx / (TC / 4);
      // Zero past the chunk (the loads are): the weight's value there does not matter.
      const float w = REVERSE ? pc.scale * decay_pow(log2_gamma, float(j)) : decay_pow(log2_gamma, float(len - 1 - j));
      b_tile[j * LDB4 + idx % (TC / 4)] = pack4(b_next[k] * (w * b_factor));
    }
    barrier();
    if (i + 1 < pc.chunks) {  // in flight during the products
      const uint next = REVERSE ? gc - 1 : gc + 1;
      fetch(n, h, (pc.first_chunk + next) * B, d0, e0);
    }
    const float decay_chunk = decay_pow(log2_gamma, float(len));
#define DECAY(j) s_##j = s_##j * decay_chunk;
    EACH_BLOCK(DECAY)
    [[unroll]] for (uint kk = 0; kk < B; kk += 16) {
      // A_c^T: element (row r, position p) is a_tile[p][r], a column-major load.
      FRAG a;
      coopMatLoadNV(a, a_tile, kk * LDA4 + 4 * sg, LDA4, true);
#define UPDATE(j)                                                          \
  {                                                                        \
    FRAG b;                                                                \
    coopMatLoadNV(b, b_tile, kk * LDB4 + 4 * (j), LDB4, false);                 \
    s_##j = coopMatMulAddNV(a, b, s_##j);                                  \
  }
      EACH_BLOCK(UPDATE)
    }
    barrier();  // the next chunk overwrites the tiles
  }

  publish_output_maxima();
  if (!FROM_ZERO) {
#define STORE_S(j)                                                                         \
  {                                                                                        \
    ACC x = SCALED ? s_##j * from_acc : s_##j;                                             \
    coopMatStoreNV(x, st, (nh * pc.dk + row0) * pc.dv + e0 + 16 * (j), pc.dv, false);   \
  }
    EACH_BLOCK(STORE_S)
  }
}
