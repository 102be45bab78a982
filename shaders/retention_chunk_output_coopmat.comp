#version 450
#extension GL_GOOGLE_include_directive : require
// Chunkwise retention on tensor cores, pass 2 of 2 (after retention_chunk_states_coopmat left
// S_c, the state before chunk c, in the scratch as f16): the outputs of one group of chunks of
// 64 positions, one chunk of one (sequence, head) per workgroup of 4 subgroups, each subgroup
// 16 of the chunk's rows. With n, m positions within the chunk and Dq = diag(scale gamma^(n+1)) q:
//   scores  P[n,m] = (Dq_n . k_m) gamma^-(m+1) = scale gamma^(n-m) (q_n . k_m) where m <= n,
//           else 0, over slices of 64 dims of Dq and k staged in shared memory (key blocks
//           wholly above the diagonal skipped); each subgroup keeps its rows of Dq as fragments;
//   output  o = P v + Dq S_c, 64 value columns at a time, the v tile and S_c's DK x 64 block
//           staged together (one barrier pair per block; o is overwritten).
// Dq, k, v, P and S_c are rounded to f16 for the products (relative error 2^-11 each, as in
// fla's f16 kernels); the products are summed in f32. gamma^-(m+1) <= gamma_0^-64 < 8, so
// scores from Dq lose no range. Grid (chunks of the group, sequences x heads of the block).
// The launcher (kernels/retention.cpp) guarantees subgroups of 32, DK (= dk) a multiple of 64
// of at most 256, and dv % 64 == 0.
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"
#include "retention_common.glsl"

#define SCOPE_SUBGROUP 3  // gl_ScopeSubgroup, spelled as its value (see matmul_coopmat.glsl)
#define B 64              // chunk length, and the width of every staged slice
#define LDS4 18           // staged row stride in uvec2s of 4 halves (72 halves: 16-byte aligned, spread over banks)
#define MAX_DK 256
#define THREADS 128

layout(local_size_x = THREADS) in;
layout(constant_id = 0) const uint DK = 256;  // dims of q and k

layout(std430, set = 0, binding = 0) writeonly buffer O { float o[]; };
layout(std430, set = 0, binding = 1) readonly buffer Q { vec4 q4[]; };
layout(std430, set = 0, binding = 2) readonly buffer K { vec4 k4[]; };
layout(std430, set = 0, binding = 3) readonly buffer V { vec4 v4[]; };
layout(std430, set = 0, binding = 4) readonly buffer S { uvec4 s8[]; };  // [block][chunks][dk][dv] f16
layout(push_constant) uniform Push {
  uint T, H, dk, dv;
  uint first_chunk;  // the group's first chunk within the sequence
  uint chunks;       // chunks in the group
  uint first_nh;     // the block's first sequence x head (n * H + h)
  float scale;       // dk^-0.5
} pc;

// One region, f16 tiles of B columns in rows of LDS4 uvec2s, viewed in turn as:
//   scores:  the Dq slice (rows 0..63) and the k slice (64..127);
//   then:    per subgroup its 16 x 64 f32 scores (at 512 sg; also the last chunk's outputs)
//            and its decayed f16 scores (at 2048 + 16 LDS4 sg);
//   output:  S_c's block (rows 0..DK-1) and the v tile (rows MAX_DK..MAX_DK+63).
shared uvec2 smem[(MAX_DK + B) * LDS4];
const uint K_TILE = B * LDS4, V_TILE = MAX_DK * LDS4, DECAYED = 2048;

#define ACC fcoopmatNV<32, SCOPE_SUBGROUP, 16, 16>
#define FRAG fcoopmatNV<16, SCOPE_SUBGROUP, 16, 16>
#define EACH_BLOCK(F) F(0) F(1) F(2) F(3)

uvec2 pack4(vec4 x) { return uvec2(packHalf2x16(x.xy), packHalf2x16(x.zw)); }

// Rows [t0, t0 + B) x columns [c0, c0 + B) of a [N, T, H, width] f32 tensor into the tile at
// `base` as f16, rows past T zeros, row r times `row_scale` gamma^(r+1) where row_scale is not
// 0 (Dq).
#define STAGE_ROWS(NAME, BUF)                                                                        \
  void NAME(uint n, uint h, uint t0, uint c0, uint width, uint base, float row_scale, float log2_gamma) { \
    [[unroll]] for (uint i = 0; i < B * (B / 4) / THREADS; ++i) {                                    \
      const uint idx = gl_LocalInvocationIndex + i * THREADS, r = idx / (B / 4), c = idx % (B / 4);  \
      vec4 x = vec4(0.0);                                                                            \
      if (t0 + r < pc.T) {                                                                           \
        x = BUF[(((n * pc.T + t0 + r) * pc.H + h) * width + c0) / 4 + c];                            \
        if (row_scale != 0.0) x *= row_scale * decay_pow(log2_gamma, float(r + 1));                  \
      }                                                                                              \
      smem[base + r * LDS4 + c] = pack4(x);                                                          \
    }                                                                                                \
  }
STAGE_ROWS(stage_q, q4)
STAGE_ROWS(stage_k, k4)
STAGE_ROWS(stage_v, v4)

// Rows [0, DK) x columns [c0, c0 + B) of S_c (slot: its first row in the scratch), 8 halves a
// load, to the start of the region.
void stage_state(uint slot, uint c0) {
  for (uint idx = gl_LocalInvocationIndex; idx < DK * (B / 8); idx += THREADS) {
    const uint r = idx / (B / 8), c = idx % (B / 8);
    const uvec4 x = s8[((slot + r) * pc.dv + c0) / 8 + c];
    smem[r * LDS4 + 2 * c] = x.xy;
    smem[r * LDS4 + 2 * c + 1] = x.zw;
  }
}

void main() {
  const uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  const uint t0 = (pc.first_chunk + gl_WorkGroupID.x) * B;
  const uint nh = pc.first_nh + gl_WorkGroupID.y, n = nh / pc.H, h = nh % pc.H;
  const uint slot = (gl_WorkGroupID.y * pc.chunks + gl_WorkGroupID.x) * DK;  // S_c's first row
  const float log2_gamma = retention_log2_gamma(h);

  // Scores of this subgroup's rows: key block j (16 keys) is needed where j <= sg. Slice l
  // (dims 64 l ..) leaves the subgroup's Dq fragments dq_(4l) .. dq_(4l+3) in registers.
#define INIT_S(j) ACC s_##j = ACC(0.0);
  EACH_BLOCK(INIT_S)
#define DECLARE_DQ(a, b, c, d) FRAG dq_##a, dq_##b, dq_##c, dq_##d;
  DECLARE_DQ(0, 1, 2, 3) DECLARE_DQ(4, 5, 6, 7) DECLARE_DQ(8, 9, 10, 11) DECLARE_DQ(12, 13, 14, 15)
  // B = k^T: column m of B is row m of the k slice, so it loads column-major.
#define SCORE(f, i, j)                                                             \
  if (j <= sg) {                                                                   \
    FRAG b;                                                                        \
    coopMatLoadNV(b, smem, K_TILE + (16 * j * LDS4 * 4 + 16 * i) / 4, LDS4, true); \
    s_##j = coopMatMulAddNV(dq_##f, b, s_##j);                                     \
  }
#define DQ_STEP(f, i)                                                             \
  coopMatLoadNV(dq_##f, smem, (16 * sg * LDS4 * 4 + 16 * i) / 4, LDS4, false);    \
  SCORE(f, i, 0) SCORE(f, i, 1) SCORE(f, i, 2) SCORE(f, i, 3)
#define SLICE(l, a, b, c, d)                                                      \
  if (64 * l < DK) {                                                             \
    stage_q(n, h, t0, 64 * l, DK, 0, pc.scale, log2_gamma);                      \
    stage_k(n, h, t0, 64 * l, DK, K_TILE, 0.0, log2_gamma);                      \
    barrier();                                                                   \
    DQ_STEP(a, 0) DQ_STEP(b, 1) DQ_STEP(c, 2) DQ_STEP(d, 3)                      \
    barrier(); /* the next slice, or the scores' staging, overwrites the tiles */ \
  }
  SLICE(0, 0, 1, 2, 3) SLICE(1, 4, 5, 6, 7) SLICE(2, 8, 9, 10, 11) SLICE(3, 12, 13, 14, 15)

  // Mask the scores and undo the keys' part of Dq's decay, through this subgroup's staging
  // area (f32, 64 columns = 32 uvec2s a row), into f16.
  const uint s_base = 512 * sg, d_base = DECAYED + 16 * LDS4 * sg;
#define STAGE_S(j) \
  if (j <= sg) coopMatStoreNV(s_##j, smem, s_base + 8 * j, B / 2, false);
  EACH_BLOCK(STAGE_S)
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  for (uint e = lane; e < 16 * B / 4; e += gl_SubgroupSize) {
    const uint i = e / (B / 4), m0 = 4 * (e % (B / 4)), row = 16 * sg + i;
    const uvec4 bits = uvec4(smem[s_base + i * (B / 2) + m0 / 2], smem[s_base + i * (B / 2) + m0 / 2 + 1]);
    vec4 x;
    [[unroll]] for (uint c = 0; c < 4; ++c) {
      const uint m = m0 + c;
      x[c] = m <= row ? uintBitsToFloat(bits[c]) * decay_pow(log2_gamma, -float(m + 1)) : 0.0;
    }
    smem[d_base + i * LDS4 + m0 / 4] = pack4(x);
  }
  subgroupMemoryBarrierShared();
  subgroupBarrier();
#define LOAD_P(j) \
  FRAG p_##j;     \
  if (j <= sg) coopMatLoadNV(p_##j, smem, d_base + 4 * j, LDS4, false);
  EACH_BLOCK(LOAD_P)

  // o = P v + Dq S_c, B value columns at a time.
  const bool full = t0 + B <= pc.T;
  const uint row0 = t0 + 16 * sg;
  for (uint c0 = 0; c0 < pc.dv; c0 += B) {
    barrier();  // the scores' staging, or the previous block, is consumed
    stage_v(n, h, t0, c0, pc.dv, V_TILE, 0.0, log2_gamma);
    stage_state(slot, c0);
    barrier();
#define INIT_O(j) ACC o_##j = ACC(0.0);
    EACH_BLOCK(INIT_O)
    // Block (key block kb, column block j) of v, row-major.
#define OUT(j, kb)                                                                 \
  {                                                                                \
    FRAG b;                                                                        \
    coopMatLoadNV(b, smem, V_TILE + (16 * kb * LDS4 * 4 + 16 * j) / 4, LDS4, false); \
    o_##j = coopMatMulAddNV(p_##kb, b, o_##j);                                     \
  }
#define OUT_ROW(kb) \
  if (kb <= sg) { OUT(0, kb) OUT(1, kb) OUT(2, kb) OUT(3, kb) }
    EACH_BLOCK(OUT_ROW)
    // Block (state rows 16 f.., column block j) of S_c.
#define FROM_STATE1(f, j)                                                          \
  {                                                                                \
    FRAG b;                                                                        \
    coopMatLoadNV(b, smem, (16 * f * LDS4 * 4 + 16 * j) / 4, LDS4, false);         \
    o_##j = coopMatMulAddNV(dq_##f, b, o_##j);                                     \
  }
#define FROM_STATE(f) FROM_STATE1(f, 0) FROM_STATE1(f, 1) FROM_STATE1(f, 2) FROM_STATE1(f, 3)
#define FROM_SLICE(l, a, b, c, d) \
  if (64 * l < DK) { FROM_STATE(a) FROM_STATE(b) FROM_STATE(c) FROM_STATE(d) }
    FROM_SLICE(0, 0, 1, 2, 3) FROM_SLICE(1, 4, 5, 6, 7) FROM_SLICE(2, 8, 9, 10, 11) FROM_SLICE(3, 12, 13, 14, 15)
    if (full) {
#define STORE_O(j) coopMatStoreNV(o_##j, o, ((n * pc.T + row0) * pc.H + h) * pc.dv + c0 + 16 * j, pc.H * pc.dv, false);
      EACH_BLOCK(STORE_O)
    } else {  // the last chunk of a sequence: only rows before T, through the staging area
      barrier();  // every subgroup is done with the staged tiles
#define STAGE_O(j) coopMatStoreNV(o_##j, smem, s_base + 8 * j, B / 2, false);
      EACH_BLOCK(STAGE_O)
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      for (uint e = lane; e < 16 * B; e += gl_SubgroupSize) {
        const uint t = row0 + e / B;
        if (t < pc.T) o[((n * pc.T + t) * pc.H + h) * pc.dv + c0 + e % B] = uintBitsToFloat(smem[s_base + e / 2][e % 2]);
      }
    }
  }
}
