// Body of matmul_coopmat_n8/n16.comp (FRAG_N: the N of the device's 16 x N x 16 shape).
// y[M,N] (+)= x[M,K] w[N,K]^T on tensor cores (VK_NV_cooperative_matrix): f16 x f16 products
// accumulated in f32, for many rows (prefill, the training forward). x is rounded to f16 on
// its way into shared memory (relative error 2^-11 per element, like PyTorch's f16 autocast);
// w is f16 already. A workgroup of 4 subgroups of 32 lanes computes a 128 x 128 tile of y,
// each subgroup a 64 x 64 block of 16 x FRAG_N accumulators (4 fragments of x and 64 / FRAG_N
// of w loaded per 16-deep step feed 16 (or 32) products: 1.3x the speed of 8 subgroups of
// 32 x 64 on the H100, measured in bench/results/README.md); K is walked in steps of 32
// staged in shared memory (rows padded by 8 halves so fragment loads stay 16-byte aligned
// and spread over banks), the next step's tiles loaded into registers during the multiplies.
// The accumulators are separate named variables, not an array: with an array of cooperative
// matrices the driver (NVIDIA 580) kept them in memory and the kernel ran 3.4x slower
// (measured, bench/results/README.md). Tiles wholly inside y start from y (accumulate) and
// are stored straight from the fragments; edge tiles go through a per-subgroup staging tile
// so ragged edges need no special case. Only used where the subgroup size is 32 (the
// launcher checks).
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require

// Subgroup scope (gl_ScopeSubgroup = 3) spelled as its value: the GL_KHR_memory_scope_semantics
// constant would switch the module to the Vulkan memory model, an extra device feature.
#define SCOPE_SUBGROUP 3

#define BM 128
#define BN 128
#define BK 32
#define WARPS_N 2
#define WM 64            // rows per subgroup
#define WN 64            // columns per subgroup
#define THREADS 128
#define LDS (BK + 8)     // shared row stride in halves (80 bytes)

layout(local_size_x = THREADS) in;
// K % 8 == 0: x rows are read as vec4s and w rows as uvec4s (8 halves).
layout(constant_id = 0) const bool ALIGNED = false;

#define W_F16
#include "matmul_interface.glsl"

// Tiles as uvec2s of 4 packed halves: one 8-byte shared store per 4 values, and w's f16 bits
// go from memory to shared memory untouched. Fragment loads count offsets and strides in
// these 4-half units.
#define LDS4 (LDS / 4)
shared uvec2 xs[BM * LDS4];
shared uvec2 ws[BN * LDS4];
shared float stage[(THREADS / 32) * 16 * FRAG_N];

#define ACC fcoopmatNV<32, SCOPE_SUBGROUP, 16, FRAG_N>
#define A_FRAG fcoopmatNV<16, SCOPE_SUBGROUP, 16, 16>
#define B_FRAG fcoopmatNV<16, SCOPE_SUBGROUP, 16, FRAG_N>
// F(i, j) for every accumulator (4 rows of fragments, WN / FRAG_N columns); G(j) for every
// column, G(i) for every row.
#if FRAG_N == 16
#define EACH_COLUMN(G) G(0) G(1) G(2) G(3)
#define EACH_IN_ROW(F, i) F(i, 0) F(i, 1) F(i, 2) F(i, 3)
#else
#define EACH_COLUMN(G) G(0) G(1) G(2) G(3) G(4) G(5) G(6) G(7)
#define EACH_IN_ROW(F, i) F(i, 0) F(i, 1) F(i, 2) F(i, 3) F(i, 4) F(i, 5) F(i, 6) F(i, 7)
#endif
#define EACH_ROW(G) G(0) G(1) G(2) G(3)
#define EACH_ACC(F) EACH_IN_ROW(F, 0) EACH_IN_ROW(F, 1) EACH_IN_ROW(F, 2) EACH_IN_ROW(F, 3)

#define X_LOADS (BM * BK / 4 / THREADS)  // vec4s of x per thread and step
#define W_LOADS (BN * BK / 8 / THREADS)  // 8-half groups of w per thread and step

// The next step's tiles travel through registers while the current one is multiplied.
vec4 x_next[X_LOADS];
uvec4 w_next[W_LOADS];

void fetch(uint t, uint m0, uint n0, uint k0) {
  [[unroll]] for (uint i = 0; i < X_LOADS; ++i) {
    const uint idx = t + i * THREADS, r = idx / (BK / 4), q = idx % (BK / 4);
    x_next[i] = x_quad(m0 + r, k0 + 4 * q, ALIGNED);
  }
  [[unroll]] for (uint i = 0; i < W_LOADS; ++i) {
    const uint idx = t + i * THREADS, r = idx / (BK / 8), h = idx % (BK / 8);
    const uint n = n0 + r, k = k0 + 8 * h;
    uvec4 q = uvec4(0);  // zero bits are +0.0
    if (ALIGNED) {
      if (n < pc.N && k < pc.K) q = w4[(n * pc.K + k) / 8];
    } else if (n < pc.N) {
      vec4 lo = vec4(0.0), hi = vec4(0.0);
      [[unroll]] for (uint c = 0; c < 4; ++c) {
        if (k + c < pc.K) lo[c] = weight_at(n * pc.K + k + c);
        if (k + 4 + c < pc.K) hi[c] = weight_at(n * pc.K + k + 4 + c);
      }
      q = uvec4(packHalf2x16(lo.xy), packHalf2x16(lo.zw), packHalf2x16(hi.xy), packHalf2x16(hi.zw));
    }
    w_next[i] = q;
  }
}

void store_tiles(uint t) {
  [[unroll]] for (uint i = 0; i < X_LOADS; ++i) {
    const uint idx = t + i * THREADS, r = idx / (BK / 4), q = idx % (BK / 4);
    xs[r * LDS4 + q] = uvec2(packHalf2x16(x_next[i].xy), packHalf2x16(x_next[i].zw));
  }
  [[unroll]] for (uint i = 0; i < W_LOADS; ++i) {
    const uint idx = t + i * THREADS, r = idx / (BK / 8), h = idx % (BK / 8);
    const uvec4 q = w_next[i];
    ws[r * LDS4 + 2 * h] = q.xy;
    ws[r * LDS4 + 2 * h + 1] = q.zw;
  }
}

// Writes fragment (i, j) of this subgroup's block: straight from the registers when the tile is
// interior (the accumulator then already holds y's old value where accumulating), else
// element by element through the staging tile, bounds-checked.
void store_fragment(ACC c, uint row0, uint col0, bool interior) {
  if (interior) {
    coopMatStoreNV(c, y, row0 * pc.N + col0, pc.N, false);
    return;
  }
  const uint base = gl_SubgroupID * 16 * FRAG_N;
  coopMatStoreNV(c, stage, base, FRAG_N, false);
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  for (uint e = gl_SubgroupInvocationID; e < 16 * FRAG_N; e += gl_SubgroupSize) {
    const uint m = row0 + e / FRAG_N, n = col0 + e % FRAG_N;
    if (m < pc.M && n < pc.N) {
      const uint o = m * pc.N + n;
      y[o] = (pc.accumulate != 0 ? y[o] : 0.0) + stage[base + e];
    }
  }
  subgroupBarrier();  // the stage is rewritten by the next fragment
}

void main() {
  const uint t = gl_LocalInvocationID.x, warp = gl_SubgroupID;
  const uint wm = warp / WARPS_N, wn = warp % WARPS_N;
  const uint row_tiles = (pc.M + BM - 1) / BM, col_tiles = (pc.N + BN - 1) / BN;
  for (uint tm = gl_WorkGroupID.y; tm < row_tiles; tm += gl_NumWorkGroups.y) {
    for (uint tn = gl_WorkGroupID.x; tn < col_tiles; tn += gl_NumWorkGroups.x) {
      const uint m0 = tm * BM, n0 = tn * BN;
      const uint row0 = m0 + wm * WM, col0 = n0 + wn * WN;
      // Direct fragment stores need the whole tile inside y and 16-byte aligned rows.
      const bool interior = m0 + BM <= pc.M && n0 + BN <= pc.N && pc.N % 4 == 0;
      const bool from_y = interior && pc.accumulate != 0;
#define INIT(i, j) \
  ACC acc_##i##_##j = ACC(0.0); \
  if (from_y) coopMatLoadNV(acc_##i##_##j, y, (row0 + 16 * i) * pc.N + col0 + FRAG_N * j, pc.N, false);
      EACH_ACC(INIT)

      fetch(t, m0, n0, 0);
      for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        store_tiles(t);
        barrier();
        if (k0 + BK < pc.K) fetch(t, m0, n0, k0 + BK);  // in flight during the multiplies
        [[unroll]] for (uint kk = 0; kk < BK; kk += 16) {
#define LOAD_A(i) \
  A_FRAG a_##i;   \
  coopMatLoadNV(a_##i, xs, ((wm * WM + 16 * i) * LDS + kk) / 4, LDS4, false);
          EACH_ROW(LOAD_A)
          // B = w^T: column n of B is row n of the w tile, so it loads column-major.
#define LOAD_B(j) \
  B_FRAG b_##j;   \
  coopMatLoadNV(b_##j, ws, ((wn * WN + j * FRAG_N) * LDS + kk) / 4, LDS4, true);
          EACH_COLUMN(LOAD_B)
#define MUL_ADD(i, j) acc_##i##_##j = coopMatMulAddNV(a_##i, b_##j, acc_##i##_##j);
          EACH_ACC(MUL_ADD)
        }
        barrier();  // the next step overwrites the tiles
      }
#define STORE(i, j) store_fragment(acc_##i##_##j, row0 + 16 * i, col0 + FRAG_N * j, interior);
      EACH_ACC(STORE)
    }
  }
}
