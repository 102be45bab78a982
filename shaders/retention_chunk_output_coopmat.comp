#version 450
#extension GL_GOOGLE_include_directive : require
// Chunkwise retention on tensor cores, pass 2 of 2 (after retention_chunk_states_coopmat left
// S_c, the state before chunk c, in the scratch): the outputs of one group of chunks of 64
// positions, one chunk of one (sequence, head) per workgroup of 4 subgroups. With n, m
// positions within the chunk:
//   scores  P = q k^T, each subgroup 16 query rows against the keys of the chunk up to its
//           own rows (later key blocks are wholly above the diagonal), over slices of 64
//           dims of q and k staged in shared memory, then decayed:
//           P[n,m] = scale * gamma^(n-m) * (q_n . k_m) where m <= n, else 0;
//   output  o = P v + (D q) S_c, D = diag(scale * gamma^(n+1)), 64 value columns at a time
//           (o is overwritten).
// q, k, v, P and S_c are rounded to f16 for the products (relative error 2^-11 each, as in
// fla's f16 kernels); the products are summed in f32. Grid (chunks of the group, sequences x
// heads of the block). The launcher (kernels/retention.cpp) guarantees subgroups of 32,
// dk % 64 == 0 and dv % 64 == 0.
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"
#include "retention_common.glsl"

#define SCOPE_SUBGROUP 3  // gl_ScopeSubgroup, spelled as its value (see matmul_coopmat.glsl)
#define B 64              // chunk length
#define DS 64             // dims of q and k (and value columns) staged at a time
#define LDS (DS + 8)      // shared row stride in halves: 16-byte aligned, spread over banks
#define LDS4 (LDS / 4)    // ... in uvec2s of 4 halves, the unit of the tiles below
#define THREADS 128

layout(local_size_x = THREADS) in;

layout(std430, set = 0, binding = 0) writeonly buffer O { float o[]; };
layout(std430, set = 0, binding = 1) readonly buffer Q { vec4 q4[]; };
layout(std430, set = 0, binding = 2) readonly buffer K { vec4 k4[]; };
layout(std430, set = 0, binding = 3) readonly buffer V { vec4 v4[]; };
layout(std430, set = 0, binding = 4) readonly buffer S { vec4 s4[]; };  // [block][chunks][dk][dv]
layout(push_constant) uniform Push {
  uint T, H, dk, dv;
  uint first_chunk;  // the group's first chunk within the sequence
  uint chunks;       // chunks in the group
  uint first_nh;     // the block's first sequence x head (n * H + h)
  float scale;       // dk^-0.5
} pc;

// Two [B][LDS] f16 tiles: the q and k slices while scores are computed, then the v tile, then
// slices of D q and S_c.
shared uvec2 tiles[2 * B * LDS4];
// Per subgroup: its 16 x 64 f32 scores (and edge output tiles), and its decayed f16 scores.
shared float staged[4 * 16 * B];
shared uvec2 decayed[4 * 16 * LDS4];

#define ACC fcoopmatNV<32, SCOPE_SUBGROUP, 16, 16>
#define FRAG fcoopmatNV<16, SCOPE_SUBGROUP, 16, 16>
#define EACH_BLOCK(F) F(0) F(1) F(2) F(3)

// Rows [t0, t0 + B) x columns [c0, c0 + DS) of q (which 0), k (1) or v (2), a [N, T, H, width]
// tensor, into tiles at `base` as f16, rows past T zeros; q rows times `row_scale`^(r+1) * scale
// where row_scale is not 0 (D q).
void stage_tile(uint which, uint n, uint h, uint t0, uint c0, uint width, uint base, float log2_row_scale) {
  const uint quads = DS / 4;
  [[unroll]] for (uint i = 0; i < B * quads / THREADS; ++i) {
    const uint idx = gl_LocalInvocationIndex + i * THREADS, r = idx / quads, c = idx % quads;
    vec4 x = vec4(0.0);
    if (t0 + r < pc.T) {
      const uint at = (((n * pc.T + t0 + r) * pc.H + h) * width + c0) / 4 + c;
      x = which == 0 ? q4[at] : which == 1 ? k4[at] : v4[at];
      if (log2_row_scale != 0.0) x *= pc.scale * decay_pow(log2_row_scale, float(r + 1));
    }
    tiles[base + r * LDS4 + c] = uvec2(packHalf2x16(x.xy), packHalf2x16(x.zw));
  }
}

// Rows [d0, d0 + DS) x columns [c0, c0 + DS) of S_c (slot: its first row in the scratch) into
// tiles at `base`, as f16.
void stage_state(uint slot, uint d0, uint c0, uint base) {
  const uint quads = DS / 4;
  [[unroll]] for (uint i = 0; i < DS * quads / THREADS; ++i) {
    const uint idx = gl_LocalInvocationIndex + i * THREADS, r = idx / quads, c = idx % quads;
    const vec4 x = s4[((slot + d0 + r) * pc.dv + c0) / 4 + c];
    tiles[base + r * LDS4 + c] = uvec2(packHalf2x16(x.xy), packHalf2x16(x.zw));
  }
}

void main() {
  const uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  const uint t0 = (pc.first_chunk + gl_WorkGroupID.x) * B;
  const uint nh = pc.first_nh + gl_WorkGroupID.y, n = nh / pc.H, h = nh % pc.H;
  const uint slot = (gl_WorkGroupID.y * pc.chunks + gl_WorkGroupID.x) * pc.dk;  // S_c's first row
  const float log2_gamma = retention_log2_gamma(h);
  const uint k_tile = B * LDS4;  // where the second tile starts in `tiles`

  // Scores of this subgroup's rows: key block j (16 keys) is needed where j <= sg.
#define INIT_S(j) ACC s_##j = ACC(0.0);
  EACH_BLOCK(INIT_S)
  for (uint d0 = 0; d0 < pc.dk; d0 += DS) {
    stage_tile(0, n, h, t0, d0, pc.dk, 0, 0.0);
    stage_tile(1, n, h, t0, d0, pc.dk, k_tile, 0.0);
    barrier();
    [[unroll]] for (uint kk = 0; kk < DS; kk += 16) {
      FRAG a;
      coopMatLoadNV(a, tiles, (16 * sg * LDS + kk) / 4, LDS4, false);
      // B = k^T: column m of B is row m of the k slice, so it loads column-major.
#define SCORE(j)                                                                 \
  if (j <= sg) {                                                                 \
    FRAG b;                                                                      \
    coopMatLoadNV(b, tiles, k_tile + (16 * j * LDS + kk) / 4, LDS4, true);       \
    s_##j = coopMatMulAddNV(a, b, s_##j);                                        \
  }
      EACH_BLOCK(SCORE)
    }
    barrier();  // the next slice overwrites the tiles
  }

  // Decay and mask the scores, through this subgroup's staging area, into f16.
  const uint s_base = sg * 16 * B, d_base = sg * 16 * LDS4;
#define STAGE_S(j) \
  if (j <= sg) coopMatStoreNV(s_##j, staged, s_base + 16 * j, B, false);
  EACH_BLOCK(STAGE_S)
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  for (uint e = lane; e < 16 * B / 4; e += gl_SubgroupSize) {
    const uint i = e / (B / 4), m0 = 4 * (e % (B / 4)), row = 16 * sg + i;
    vec4 x;
    [[unroll]] for (uint c = 0; c < 4; ++c) {
      const uint m = m0 + c;
      x[c] = m <= row ? staged[s_base + i * B + m] * pc.scale * decay_pow(log2_gamma, float(row - m)) : 0.0;
    }
    decayed[d_base + i * LDS4 + m0 / 4] = uvec2(packHalf2x16(x.xy), packHalf2x16(x.zw));
  }
  subgroupMemoryBarrierShared();
  subgroupBarrier();
#define LOAD_P(j) \
  FRAG p_##j;     \
  if (j <= sg) coopMatLoadNV(p_##j, decayed, d_base + 4 * j, LDS4, false);
  EACH_BLOCK(LOAD_P)

  // o = P v + (D q) S_c, DS value columns at a time.
  const bool full = t0 + B <= pc.T;
  const uint row0 = t0 + 16 * sg;
  for (uint c0 = 0; c0 < pc.dv; c0 += DS) {
    stage_tile(2, n, h, t0, c0, pc.dv, 0, 0.0);
    barrier();
#define INIT_O(j) ACC o_##j = ACC(0.0);
    EACH_BLOCK(INIT_O)
    // Block (key block kb, column block j) of v, row-major.
#define OUT(j, kb)                                                               \
  {                                                                              \
    FRAG b;                                                                      \
    coopMatLoadNV(b, tiles, (16 * kb * LDS + 16 * j) / 4, LDS4, false);          \
    o_##j = coopMatMulAddNV(p_##kb, b, o_##j);                                   \
  }
#define OUT_ROW(kb) \
  if (kb <= sg) { OUT(0, kb) OUT(1, kb) OUT(2, kb) OUT(3, kb) }
    EACH_BLOCK(OUT_ROW)
    for (uint d0 = 0; d0 < pc.dk; d0 += DS) {
      barrier();  // the previous tiles are consumed
      stage_tile(0, n, h, t0, d0, pc.dk, 0, log2_gamma);
      stage_state(slot, d0, c0, k_tile);
      barrier();
      [[unroll]] for (uint kk = 0; kk < DS; kk += 16) {
        FRAG a;
        coopMatLoadNV(a, tiles, (16 * sg * LDS + kk) / 4, LDS4, false);
#define FROM_STATE(j)                                                      \
  {                                                                        \
    FRAG b;                                                                \
    coopMatLoadNV(b, tiles, k_tile + (kk * LDS + 16 * j) / 4, LDS4, false); \
    o_##j = coopMatMulAddNV(a, b, o_##j);                                  \
  }
        EACH_BLOCK(FROM_STATE)
      }
    }
    if (full) {
#define STORE_O(j) coopMatStoreNV(o_##j, o, ((n * pc.T + row0) * pc.H + h) * pc.dv + c0 + 16 * j, pc.H * pc.dv, false);
      EACH_BLOCK(STORE_O)
    } else {  // the last chunk of a sequence: only rows before T
#define STAGE_O(j) coopMatStoreNV(o_##j, staged, s_base + 16 * j, B, false);
      EACH_BLOCK(STAGE_O)
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      for (uint e = lane; e < 16 * B; e += gl_SubgroupSize) {
        const uint t = row0 + e / B;
        if (t < pc.T) o[((n * pc.T + t) * pc.H + h) * pc.dv + c0 + e % B] = staged[s_base + e];
      }
      subgroupBarrier();  // the staging area is rewritten by the next column block
    }
    barrier();  // the next column block overwrites the v tile
  }
}
