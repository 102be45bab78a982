// Body of the matmul_coopmat_*.comp shaders. C[M,N] (+)= A[M,K] B[K,N] on tensor cores
// (VK_NV_cooperative_matrix): f16 x f16 products accumulated in f32. The includer defines
// FRAG_N (the N of the device's 16 x FRAG_N x 16 shape) and how A and B lie in memory:
//   A_F16 / B_F16: the operand holds f16 (else f32, rounded to f16 on its way into shared
//                  memory: relative error 2^-11 per element, like PyTorch's f16 autocast);
//   A_T:  A is stored transposed, [K][M] (else [M][K]);
//   B_T:  B is stored transposed, [N][K] (else [K][N]), as nn.Linear weights are;
//   SCALED: max|A| and max|B| (as float bits) are in slot pc.a_slot of binding 3 and slot
//           pc.b_slot of binding 4 (where the backward's reductions, or the kernels that made
//           the operands, left them); each f32 operand is multiplied by a power of two that
//           brings its largest value near 2^15 before the rounding to f16, and C is divided by
//           the same factors (exactly). Gradients (1e-8 and less) would otherwise fall below
//           f16's range, and large values overflow it.
// So: the forward y = x w^T is A = x, B_T = w (f16); the backward dx = dy w is A = dy,
// B = w (f16); dw = dy^T x is A_T = dy, B = x.
//
// A workgroup of 4 subgroups of 32 lanes computes a 128 x 128 tile of C, each subgroup a
// 64 x 64 block of 16 x FRAG_N accumulators (4 fragments of A and 64 / FRAG_N of B loaded per
// 16-deep step feed 16 (or 32) products: 1.3x the speed of 8 subgroups of 32 x 64 on the
// H100; two shared buffers, 256-row or 256-column tiles measured slower, bench/results/
// README.md). K is walked in steps of 32 staged in shared memory (rows padded by 8 halves so
// fragment loads stay 16-byte aligned and spread over banks), the next step's tiles loaded
// into registers during the multiplies (the fragments as coopmat_block.glsl holds them).
// Interior tiles are stored straight from the fragments; edge tiles go through a per-subgroup
// staging tile so ragged edges need no special case. Only used where the subgroup size is 32
// (the launcher checks).
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

layout(local_size_x = THREADS) in;
// Every row of A's and of B's memory layout starts on 8 elements, and their lengths are
// multiples of 8: tiles load 8 elements at a time (two vec4s of f32, one uvec4 of f16).
layout(constant_id = 0) const bool A_ALIGNED = false;
layout(constant_id = 1) const bool B_ALIGNED = false;

layout(push_constant) uniform Push {
  uint M, N, K;
  uint accumulate;  // 1: C += A B, 0: C = A B
  // Split reduction: workgroup z sums k in [z slice, (z + 1) slice) (slice a multiple of BK)
  // into C's z-th M x N block, for a kernel that adds the blocks up. Short, wide products (a
  // weight gradient: few output tiles, thousands of tokens deep) then still fill the GPU.
  uint slice;
  uint a_slot, b_slot;  // SCALED: where max|A| and max|B| are
} pc;

layout(std430, set = 0, binding = 0) buffer C { float c[]; };
#ifdef A_F16
layout(std430, set = 0, binding = 1) readonly buffer A { uint a[]; };
layout(std430, set = 0, binding = 1) readonly buffer A8 { uvec4 a8[]; };
#else
layout(std430, set = 0, binding = 1) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer A8 { vec4 a8[]; };
#endif
#ifdef B_F16
layout(std430, set = 0, binding = 2) readonly buffer B { uint b[]; };
layout(std430, set = 0, binding = 2) readonly buffer B8 { uvec4 b8[]; };
#else
layout(std430, set = 0, binding = 2) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) readonly buffer B8 { vec4 b8[]; };
#endif
#ifdef SCALED
layout(std430, set = 0, binding = 3) readonly buffer MaximaA { uint a_maxima[]; };
layout(std430, set = 0, binding = 4) readonly buffer MaximaB { uint b_maxima[]; };
#endif

// Each operand's tile as it lies in memory: TR rows of TC contiguous elements, copied to shared
// memory in the same order with a row stride of TC + 8 halves. A: BM x BK ([M][K]) or BK x BM
// (A_T); B: BK x BN ([K][N]) or BN x BK (B_T).
#ifdef A_T
#define A_TR BK
#define A_TC BM
#else
#define A_TR BM
#define A_TC BK
#endif
#ifdef B_T
#define B_TR BN
#define B_TC BK
#else
#define B_TR BK
#define B_TC BN
#endif
#define A_LD (A_TC + 8)
#define B_LD (B_TC + 8)
#define A_CHUNKS (A_TR * A_TC / 8 / THREADS)  // 8-element pieces per thread and step
#define B_CHUNKS (B_TR * B_TC / 8 / THREADS)

// Tiles as uvec2s of 4 packed halves: one 8-byte shared store per 4 values, and f16 operands'
// bits go from memory to shared memory untouched. Fragment loads count offsets and strides in
// these 4-half units.
shared uvec2 a_tile[A_TR * A_LD / 4];
shared uvec2 b_tile[B_TR * B_LD / 4];
shared float stage[(THREADS / 32) * 16 * FRAG_N];

#include "coopmat_block.glsl"  // ACC, A_FRAG, B_FRAG and the EACH_* macros

// The next step's tiles travel through registers while the current one is multiplied: raw,
// because converting f32 to f16 here would wait for the loads and defeat the prefetch. f16
// operands move in pieces of 8 halves (16 bytes), f32 ones in quads (16 bytes), so that a
// subgroup's load covers whole 128-byte rows of memory either way (8-float pieces measured 8%
// slower: half of each row per load instruction).
#define A_QUADS (2 * A_CHUNKS)  // f32 quads per thread and step
#define B_QUADS (2 * B_CHUNKS)
#ifdef A_F16
uvec4 a_next[A_CHUNKS];
#else
vec4 a_next[A_QUADS];
#endif
#ifdef B_F16
uvec4 b_next[B_CHUNKS];
#else
vec4 b_next[B_QUADS];
#endif

#include "f16_scaling.glsl"  // scale_exponent

// 8 halves of an f16 operand's memory at (row, col .. col + 7), zero outside rows x cols.
#define F16_PIECE(NAME, BUF, BUF8, ALIGNED_)                                                   \
  uvec4 NAME(uint row, uint col, uint rows, uint cols) {                                       \
    if (row >= rows) return uvec4(0); /* zero bits are +0.0 */                                 \
    if (ALIGNED_) return col < cols ? BUF8[(row * cols + col) / 8] : uvec4(0);                \
    vec4 lo = vec4(0.0), hi = vec4(0.0);                                                       \
    [[unroll]] for (uint e = 0; e < 4; ++e) {                                                  \
      const uint i = row * cols + col + e;                                                     \
      if (col + e < cols) lo[e] = unpackHalf2x16(BUF[i >> 1])[i & 1];                          \
      if (col + 4 + e < cols) hi[e] = unpackHalf2x16(BUF[(i + 4) >> 1])[(i + 4) & 1];          \
    }                                                                                          \
    return uvec4(packHalf2x16(lo.xy), packHalf2x16(lo.zw), packHalf2x16(hi.xy), packHalf2x16(hi.zw)); \
  }
// a_quad / b_quad(row, col, rows, cols, aligned): 4 floats of an f32 operand's memory.
#include "matrix_quad.glsl"
#ifdef A_F16
F16_PIECE(a_piece, a, a8, A_ALIGNED)
#else
DEFINE_F32_QUAD(a_quad, a, a8)
#endif
#ifdef B_F16
F16_PIECE(b_piece, b, b8, B_ALIGNED)
#else
DEFINE_F32_QUAD(b_quad, b, b8)
#endif

// Element (r, q) of an operand's tile in its memory's coordinates: row `r`, column `q` of the
// tile at step k0 (rows x cols of memory in *_ROWS / *_COLS).
#ifdef A_T
#define A_AT(r, q) (k0 + (r)), (m0 + (q)), pc.K, pc.M
#else
#define A_AT(r, q) (m0 + (r)), (k0 + (q)), pc.M, pc.K
#endif
#ifdef B_T
#define B_AT(r, q) (n0 + (r)), (k0 + (q)), pc.N, pc.K
#else
#define B_AT(r, q) (k0 + (r)), (n0 + (q)), pc.K, pc.N
#endif

// Loads the step at k0 of the tiles at rows m0 of A and columns n0 of B into registers.
void fetch(uint t, uint m0, uint n0, uint k0) {
#ifdef A_F16
  [[unroll]] for (uint i = 0; i < A_CHUNKS; ++i) {
    const uint idx = t + i * THREADS, r = idx / (A_TC / 8), q = 8 * (idx % (A_TC / 8));
    a_next[i] = a_piece(A_AT(r, q));
  }
#else
  [[unroll]] for (uint i = 0; i < A_QUADS; ++i) {
    const uint idx = t + i * THREADS, r = idx / (A_TC / 4), q = 4 * (idx % (A_TC / 4));
    a_next[i] = a_quad(A_AT(r, q), A_ALIGNED);
  }
#endif
#ifdef B_F16
  [[unroll]] for (uint i = 0; i < B_CHUNKS; ++i) {
    const uint idx = t + i * THREADS, r = idx / (B_TC / 8), q = 8 * (idx % (B_TC / 8));
    b_next[i] = b_piece(B_AT(r, q));
  }
#else
  [[unroll]] for (uint i = 0; i < B_QUADS; ++i) {
    const uint idx = t + i * THREADS, r = idx / (B_TC / 4), q = 4 * (idx % (B_TC / 4));
    b_next[i] = b_quad(B_AT(r, q), B_ALIGNED);
  }
#endif
}

uvec2 quad_halves(vec4 v, float scale) {
  v *= scale;
  return uvec2(packHalf2x16(v.xy), packHalf2x16(v.zw));
}

void store_tiles(uint t, float a_scale, float b_scale) {
#ifdef A_F16
  [[unroll]] for (uint i = 0; i < A_CHUNKS; ++i) {
    const uint idx = t + i * THREADS, r = idx / (A_TC / 8), q = idx % (A_TC / 8);
    a_tile[(r * A_LD) / 4 + 2 * q] = a_next[i].xy;
    a_tile[(r * A_LD) / 4 + 2 * q + 1] = a_next[i].zw;
  }
#else
  [[unroll]] for (uint i = 0; i < A_QUADS; ++i) {
    const uint idx = t + i * THREADS, r = idx / (A_TC / 4), q = idx % (A_TC / 4);
    a_tile[(r * A_LD) / 4 + q] = quad_halves(a_next[i], a_scale);
  }
#endif
#ifdef B_F16
  [[unroll]] for (uint i = 0; i < B_CHUNKS; ++i) {
    const uint idx = t + i * THREADS, r = idx / (B_TC / 8), q = idx % (B_TC / 8);
    b_tile[(r * B_LD) / 4 + 2 * q] = b_next[i].xy;
    b_tile[(r * B_LD) / 4 + 2 * q + 1] = b_next[i].zw;
  }
#else
  [[unroll]] for (uint i = 0; i < B_QUADS; ++i) {
    const uint idx = t + i * THREADS, r = idx / (B_TC / 4), q = idx % (B_TC / 4);
    b_tile[(r * B_LD) / 4 + q] = quad_halves(b_next[i], b_scale);
  }
#endif
}

// Writes fragment x of this subgroup's block, multiplied by `unscale` (and added to C's old
// value when accumulating): straight from the registers when the tile is interior, else
// element by element through the staging tile, bounds-checked.
void store_fragment(ACC x, uint c0, uint row0, uint col0, bool interior, float unscale) {
  x = x * unscale;
  if (interior) {
    if (pc.accumulate != 0) {
      ACC old;
      coopMatLoadNV(old, c, c0 + row0 * pc.N + col0, pc.N, false);
      x = x + old;
    }
    coopMatStoreNV(x, c, c0 + row0 * pc.N + col0, pc.N, false);
    return;
  }
  const uint base = gl_SubgroupID * 16 * FRAG_N;
  coopMatStoreNV(x, stage, base, FRAG_N, false);
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  for (uint e = gl_SubgroupInvocationID; e < 16 * FRAG_N; e += gl_SubgroupSize) {
    const uint m = row0 + e / FRAG_N, n = col0 + e % FRAG_N;
    if (m < pc.M && n < pc.N) {
      const uint o = c0 + m * pc.N + n;
      c[o] = (pc.accumulate != 0 ? c[o] : 0.0) + stage[base + e];
    }
  }
  subgroupBarrier();  // the stage is rewritten by the next fragment
}

void main() {
  const uint t = gl_LocalInvocationID.x, warp = gl_SubgroupID;
  const uint wm = warp / WARPS_N, wn = warp % WARPS_N;
  const uint row_tiles = (pc.M + BM - 1) / BM, col_tiles = (pc.N + BN - 1) / BN;
  // Only f32 operands are scaled: an f16 one's slot may hold another tensor's maximum (the
  // backward computes dy's and x's once for both of its products).
#if defined(SCALED) && !defined(A_F16)
  const float a_exp = scale_exponent(a_maxima[pc.a_slot]);
#else
  const float a_exp = 0.0;
#endif
#if defined(SCALED) && !defined(B_F16)
  const float b_exp = scale_exponent(b_maxima[pc.b_slot]);
#else
  const float b_exp = 0.0;
#endif
  const float a_scale = exp2(a_exp), b_scale = exp2(b_exp), unscale = exp2(-a_exp - b_exp);
  const uint k_lo = gl_WorkGroupID.z * pc.slice, k_hi = min(pc.K, k_lo + pc.slice);
  const uint c0 = gl_WorkGroupID.z * pc.M * pc.N;
  for (uint tm = gl_WorkGroupID.y; tm < row_tiles; tm += gl_NumWorkGroups.y) {
    for (uint tn = gl_WorkGroupID.x; tn < col_tiles; tn += gl_NumWorkGroups.x) {
      const uint m0 = tm * BM, n0 = tn * BN;
      const uint row0 = m0 + wm * WM, col0 = n0 + wn * WN;
      // Direct fragment stores need the whole tile inside C and 16-byte aligned rows.
      const bool interior = m0 + BM <= pc.M && n0 + BN <= pc.N && pc.N % 4 == 0;
#define INIT(i, j) ACC acc_##i##_##j = ACC(0.0);
      EACH_ACC(INIT)

      fetch(t, m0, n0, k_lo);
      for (uint k0 = k_lo; k0 < k_hi; k0 += BK) {
        store_tiles(t, a_scale, b_scale);
        barrier();
        if (k0 + BK < k_hi) fetch(t, m0, n0, k0 + BK);  // in flight during the multiplies
        [[unroll]] for (uint kk = 0; kk < BK; kk += 16) {
#ifdef A_T
#define LOAD_A(i) \
  A_FRAG a_##i;   \
  coopMatLoadNV(a_##i, a_tile, (kk * A_LD + wm * WM + 16 * i) / 4, A_LD / 4, true);
#else
#define LOAD_A(i) \
  A_FRAG a_##i;   \
  coopMatLoadNV(a_##i, a_tile, ((wm * WM + 16 * i) * A_LD + kk) / 4, A_LD / 4, false);
#endif
          EACH_ROW(LOAD_A)
#ifdef B_T
#define LOAD_B(j) \
  B_FRAG b_##j;   \
  coopMatLoadNV(b_##j, b_tile, ((wn * WN + j * FRAG_N) * B_LD + kk) / 4, B_LD / 4, true);
#else
#define LOAD_B(j) \
  B_FRAG b_##j;   \
  coopMatLoadNV(b_##j, b_tile, (kk * B_LD + wn * WN + j * FRAG_N) / 4, B_LD / 4, false);
#endif
          EACH_COLUMN(LOAD_B)
#define MUL_ADD(i, j) acc_##i##_##j = coopMatMulAddNV(a_##i, b_##j, acc_##i##_##j);
          EACH_ACC(MUL_ADD)
        }
        barrier();  // the next step overwrites the tiles
      }
#define STORE(i, j) store_fragment(acc_##i##_##j, c0, row0 + 16 * i, col0 + FRAG_N * j, interior, unscale);
      EACH_ACC(STORE)
    }
  }
}
