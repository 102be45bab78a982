#version 450
#extension GL_GOOGLE_include_directive : require
// Retention within chunks of 64 positions on tensor cores (VK_NV_cooperative_matrix): the
// part of the chunkwise form inside each chunk, as retention_intra computes it (o is
// overwritten), one chunk of one (sequence, head) per workgroup of 4 subgroups:
//   scores  S = q k^T, each subgroup 16 query rows against the keys of the chunk up to its
//           own rows (later key blocks are wholly above the diagonal), over slices of 64
//           dims of q and k staged in shared memory;
//   decay   S * scale * gamma^(n-m) where m <= n, else 0;
//   output  o = S v, 64 value columns at a time.
// q, k, v and the decayed scores are rounded to f16 for the products (relative error 2^-11
// each, as in fla's f16 kernels); the products are summed in f32. The launcher
// (kernels/retention.cpp) guarantees subgroups of 32, dk % 64 == 0 and dv % 64 == 0.
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
layout(push_constant) uniform Push {
  uint T, H, dk, dv;
  float scale;  // dk^-0.5
} pc;

// q and k slices [B][LDS] while scores are computed, then the v tile [B][LDS] (f16).
shared uvec2 tiles[2 * B * LDS4];
// Per subgroup: its 16 x 64 f32 scores (and edge output tiles), and its decayed f16 scores.
shared float staged[4 * 16 * B];
shared uvec2 decayed[4 * 16 * LDS4];

#define ACC fcoopmatNV<32, SCOPE_SUBGROUP, 16, 16>
#define FRAG fcoopmatNV<16, SCOPE_SUBGROUP, 16, 16>
#define EACH_BLOCK(F) F(0) F(1) F(2) F(3)

// Rows [t0, t0 + B) x columns [c0, c0 + DS) of a [N, T, H, width] tensor into tiles at
// `base`, as f16; rows past T are zeros.
void stage_tile(uint which, uint n, uint h, uint t0, uint c0, uint width, uint base) {
  const uint quads = DS / 4;
  [[unroll]] for (uint i = 0; i < B * quads / THREADS; ++i) {
    const uint idx = gl_LocalInvocationIndex + i * THREADS, r = idx / quads, c = idx % quads;
    vec4 x = vec4(0.0);
    if (t0 + r < pc.T) {
      const uint at = (((n * pc.T + t0 + r) * pc.H + h) * width + c0) / 4 + c;
      x = which == 0 ? q4[at] : which == 1 ? k4[at] : v4[at];
    }
    tiles[base + r * LDS4 + c] = uvec2(packHalf2x16(x.xy), packHalf2x16(x.zw));
  }
}

void main() {
  const uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  const uint t0 = gl_WorkGroupID.x * B, n = gl_WorkGroupID.y / pc.H, h = gl_WorkGroupID.y % pc.H;
  const uint k_tile = B * LDS4;  // where the k slice starts in `tiles`

  // Scores of this subgroup's rows: key block j (16 keys) is needed where j <= sg.
#define INIT_S(j) ACC s_##j = ACC(0.0);
  EACH_BLOCK(INIT_S)
  for (uint d0 = 0; d0 < pc.dk; d0 += DS) {
    stage_tile(0, n, h, t0, d0, pc.dk, 0);
    stage_tile(1, n, h, t0, d0, pc.dk, k_tile);
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
  const float log2_gamma = retention_log2_gamma(h);
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

  // o = decayed scores x v, DS value columns at a time.
  const bool full = t0 + B <= pc.T;
  const uint row0 = t0 + 16 * sg;
  for (uint c0 = 0; c0 < pc.dv; c0 += DS) {
    stage_tile(2, n, h, t0, c0, pc.dv, 0);
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
