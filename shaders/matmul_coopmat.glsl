// Body of matmul_coopmat_n8/n16.comp (FRAG_N: the N of the device's 16 x N x 16 shape).
// y[M,N] (+)= x[M,K] w[N,K]^T on tensor cores (VK_NV_cooperative_matrix): f16 x f16 products
// accumulated in f32, for many rows (prefill, the training forward). x is rounded to f16 on
// its way into shared memory (relative error 2^-11 per element, like PyTorch's f16 autocast);
// w is f16 already. A workgroup of 8 subgroups of 32 lanes computes a 128 x 128 tile of y,
// each subgroup a 32 x 64 block of 16 x FRAG_N accumulators; K is walked in steps of 32
// staged in shared memory (rows padded by 8 halves so fragment loads stay 16-byte aligned
// and spread over banks), the next step's tiles loaded into registers during the multiplies. Results go through a per-subgroup 16x16 staging tile so ragged
// edges need no special case. Only used where the subgroup size is 32 (the launcher checks).
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
#define WM 32            // rows per subgroup
#define WN 64            // columns per subgroup
#define FM (WM / 16)
#define FN (WN / FRAG_N)
#define LDS (BK + 8)     // shared row stride in halves (80 bytes)
#define THREADS 256

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

void main() {
  const uint t = gl_LocalInvocationID.x, warp = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  const uint wm = warp / WARPS_N, wn = warp % WARPS_N;
  const uint row_tiles = (pc.M + BM - 1) / BM, col_tiles = (pc.N + BN - 1) / BN;
  for (uint tm = gl_WorkGroupID.y; tm < row_tiles; tm += gl_NumWorkGroups.y) {
    for (uint tn = gl_WorkGroupID.x; tn < col_tiles; tn += gl_NumWorkGroups.x) {
      const uint m0 = tm * BM, n0 = tn * BN;
      fcoopmatNV<32, SCOPE_SUBGROUP, 16, FRAG_N> acc[FM][FN];
      [[unroll]] for (uint i = 0; i < FM; ++i)
        [[unroll]] for (uint j = 0; j < FN; ++j) acc[i][j] = fcoopmatNV<32, SCOPE_SUBGROUP, 16, FRAG_N>(0.0);

      fetch(t, m0, n0, 0);
      for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        store_tiles(t);
        barrier();
        if (k0 + BK < pc.K) fetch(t, m0, n0, k0 + BK);  // in flight during the multiplies
        [[unroll]] for (uint kk = 0; kk < BK; kk += 16) {
          fcoopmatNV<16, SCOPE_SUBGROUP, 16, 16> a[FM];
          fcoopmatNV<16, SCOPE_SUBGROUP, 16, FRAG_N> b[FN];
          [[unroll]] for (uint i = 0; i < FM; ++i)
            coopMatLoadNV(a[i], xs, ((wm * WM + i * 16) * LDS + kk) / 4, LDS4, false);
          // B = w^T: column n of B is row n of the w tile, so it loads column-major.
          [[unroll]] for (uint j = 0; j < FN; ++j)
            coopMatLoadNV(b[j], ws, ((wn * WN + j * FRAG_N) * LDS + kk) / 4, LDS4, true);
          [[unroll]] for (uint i = 0; i < FM; ++i)
            [[unroll]] for (uint j = 0; j < FN; ++j) acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
        }
        barrier();  // the next step overwrites the tiles
      }

      const uint base = warp * 16 * FRAG_N;
      [[unroll]] for (uint i = 0; i < FM; ++i) {
        [[unroll]] for (uint j = 0; j < FN; ++j) {
          coopMatStoreNV(acc[i][j], stage, base, FRAG_N, false);
          subgroupMemoryBarrierShared();
          subgroupBarrier();
          for (uint e = lane; e < 16 * FRAG_N; e += gl_SubgroupSize) {
            const uint m = m0 + wm * WM + i * 16 + e / FRAG_N, n = n0 + wn * WN + j * FRAG_N + e % FRAG_N;
            if (m < pc.M && n < pc.N) {
              const uint o = m * pc.N + n;
              y[o] = (pc.accumulate != 0 ? y[o] : 0.0) + stage[base + e];
            }
          }
          subgroupBarrier();  // the stage is rewritten by the next fragment
        }
      }
    }
  }
}
