#version 450
#extension GL_GOOGLE_include_directive : require
// Chunkwise retention on tensor cores, pass 1 of 2 (with retention_chunk_output_coopmat): the state
// before each chunk of one group of chunks, walking the chunks in order with a 64 x 64 tile of
// the state held in f32 accumulators. With chunk c covering positions [c0, c0 + L) and j the
// position within it:
//   S_c      goes to the scratch ([sequences x heads of the block][chunks of the group][dk][dv])
//   S_(c+1)  = gamma^L S_c + K_c^T (W V_c),  W = diag(gamma^(L-1-j))
// starting from `state` and leaving the state after the group there. One workgroup (4
// subgroups, 16 state rows each) per tile per (sequence, head): grid (dk/64 x dv/64 tiles, 1,
// sequences x heads of the block). k and v are rounded to f16 for the products (the sums and
// the state stay f32), like fla's f16 kernels; the launcher (kernels/retention.cpp) guarantees
// subgroups of 32, dk % 64 == 0 and dv % 64 == 0.
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"
#include "retention_common.glsl"

#define SCOPE_SUBGROUP 3  // gl_ScopeSubgroup, spelled as its value (see matmul_coopmat.glsl)
#define B 64              // chunk length, and the tile's rows and columns
#define LDS (B + 8)       // shared row stride in halves: 16-byte aligned, spread over banks
#define LDS4 (LDS / 4)    // ... in uvec2s of 4 halves
#define THREADS 128

layout(local_size_x = THREADS) in;

layout(std430, set = 0, binding = 0) writeonly buffer Scratch { float u[]; };
layout(std430, set = 0, binding = 1) buffer State { float st[]; };  // [N, H, dk, dv]
layout(std430, set = 0, binding = 2) readonly buffer K { vec4 k4[]; };
layout(std430, set = 0, binding = 3) readonly buffer V { vec4 v4[]; };
layout(push_constant) uniform Push {
  uint T, H, dk, dv;
  uint first_chunk;  // the group's first chunk within the sequence
  uint chunks;       // chunks in the group
  uint first_nh;     // the block's first sequence x head (n * H + h)
} pc;

shared uvec2 k_tile[B * LDS4];  // k of the chunk, [position][dim], f16
shared uvec2 v_tile[B * LDS4];  // v of the chunk times its decay weight, [position][column], f16

// The next chunk's k and v (f32, v not yet decayed) travel through registers while the current
// chunk is multiplied: each chunk's loads would otherwise be waited for in turn.
#define LOADS (B * (B / 4) / THREADS)
vec4 k_next[LOADS], v_next[LOADS];

// Loads the 64 x 64 blocks at dims d0 and columns e0 of k and v for the chunk at c0 (zeros past T).
void fetch(uint n, uint h, uint c0, uint d0, uint e0) {
  [[unroll]] for (uint i = 0; i < LOADS; ++i) {
    const uint idx = gl_LocalInvocationIndex + i * THREADS, j = idx / (B / 4), c = idx % (B / 4);
    k_next[i] = vec4(0.0);
    v_next[i] = vec4(0.0);
    if (c0 + j < pc.T) {
      k_next[i] = k4[(((n * pc.T + c0 + j) * pc.H + h) * pc.dk + d0) / 4 + c];
      v_next[i] = v4[(((n * pc.T + c0 + j) * pc.H + h) * pc.dv + e0) / 4 + c];
    }
  }
}

#define ACC fcoopmatNV<32, SCOPE_SUBGROUP, 16, 16>
#define FRAG fcoopmatNV<16, SCOPE_SUBGROUP, 16, 16>
#define EACH_BLOCK(F) F(0) F(1) F(2) F(3)

void main() {
  const uint sg = gl_SubgroupID, t = gl_LocalInvocationIndex;
  const uint col_tiles = pc.dv / B;
  const uint d0 = (gl_WorkGroupID.x / col_tiles) * B, e0 = (gl_WorkGroupID.x % col_tiles) * B;
  const uint nh = pc.first_nh + gl_WorkGroupID.z, n = nh / pc.H, h = nh % pc.H;
  const float log2_gamma = retention_log2_gamma(h);
  const uint row0 = d0 + 16 * sg;  // this subgroup's state rows

#define LOAD_S(j) \
  ACC s_##j;      \
  coopMatLoadNV(s_##j, st, (nh * pc.dk + row0) * pc.dv + e0 + 16 * j, pc.dv, false);
  EACH_BLOCK(LOAD_S)

  fetch(n, h, pc.first_chunk * B, d0, e0);
  for (uint gc = 0; gc < pc.chunks; ++gc) {
    const uint c0 = (pc.first_chunk + gc) * B, len = min(B, pc.T - c0);
    const uint slot = (gl_WorkGroupID.z * pc.chunks + gc) * pc.dk + row0;
#define STORE_U(j) coopMatStoreNV(s_##j, u, slot * pc.dv + e0 + 16 * j, pc.dv, false);
    EACH_BLOCK(STORE_U)

    [[unroll]] for (uint i = 0; i < LOADS; ++i) {
      const uint idx = t + i * THREADS, j = idx / (B / 4), c = idx % (B / 4);
      const vec4 vx = v_next[i] * decay_pow(log2_gamma, float(len - 1 - j));  // zero past the chunk
      k_tile[j * LDS4 + c] = uvec2(packHalf2x16(k_next[i].xy), packHalf2x16(k_next[i].zw));
      v_tile[j * LDS4 + c] = uvec2(packHalf2x16(vx.xy), packHalf2x16(vx.zw));
    }
    barrier();
    if (gc + 1 < pc.chunks) fetch(n, h, c0 + B, d0, e0);  // in flight during the products
    const float decay_chunk = decay_pow(log2_gamma, float(len));
#define DECAY(j) s_##j = s_##j * decay_chunk;
    EACH_BLOCK(DECAY)
    [[unroll]] for (uint kk = 0; kk < B; kk += 16) {
      // A = K_c^T: element (dim r, position p) is k_tile[p][r], a column-major load.
      FRAG a;
      coopMatLoadNV(a, k_tile, (kk * LDS + 16 * sg) / 4, LDS4, true);
#define UPDATE(j)                                                  \
  {                                                                \
    FRAG b;                                                        \
    coopMatLoadNV(b, v_tile, (kk * LDS + 16 * j) / 4, LDS4, false); \
    s_##j = coopMatMulAddNV(a, b, s_##j);                          \
  }
      EACH_BLOCK(UPDATE)
    }
    barrier();  // the next chunk overwrites the tiles
  }
#define STORE_S(j) coopMatStoreNV(s_##j, st, (nh * pc.dk + row0) * pc.dv + e0 + 16 * j, pc.dv, false);
  EACH_BLOCK(STORE_S)
}
