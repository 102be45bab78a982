// Body of the matmul_tiled_* shaders: y[M,N] (+)= A[M,K] B[N,K]^T for many rows (prefill and
// training). A is bound as x (binding 1), B as w (binding 2); the push constants hold the
// output's rows M and columns N and the reduction length K. With the callers' names:
//   matmul_tiled_f32/f16     y = x w^T    A = x [M,K]                 B = w [N,K]
//   matmul_tiled_dx_f32/f16  dx = dy w    A = dy [rows, n]            B = w stored [n, k] (B_TRANS)
//   matmul_tiled_dw_f32      dw = dy^T x  A = dy stored [m, n] (A_TRANS)  B = x stored [m, k] (B_TRANS)
// A workgroup of 64 threads computes a 64 x 64 tile of y, each thread an 8 x 8 micro-tile
// (rows ty + 8 i, columns tx + 8 j). K is walked in steps of BK = 16: the step's slices of
// A and B are staged in shared memory as vec4s along k, then each thread reads 8 A vec4s
// and 8 B vec4s for 256 multiply-adds. Loads are few per multiply-add (shared-memory reads
// cost the most on CPU drivers such as llvmpipe), and on GPUs a warp's B reads fall into
// distinct banks thanks to the padded rows.
// Defines: W_F16 (B is f16 read as words, else f32); A_TRANS: A is stored transposed, [K, M]
// (element (m, k) at x[k * M + m]); B_TRANS: B is stored transposed, [K, N]. A transposed
// operand is read along its contiguous dimension in 4 x 4 blocks, transposed in registers and
// stored into the same tiles (vec4s along k), so the inner product loop is the same for
// every variant.
// Bindings: 0 y f32 [M,N], 1 x (A) f32, 2 w (B).

#define BM 64
#define BN 64
#define BK 16
#define THREADS 64
#define TM 8  // micro-tile rows per thread
#define TN 8  // micro-tile columns per thread

layout(local_size_x = THREADS) in;
// The contiguous dimension of A (K, or M with A_TRANS) is a multiple of 4: A is read with
// vector loads. Likewise B: K a multiple of 4 (8 for f16), or with B_TRANS N a multiple of 4.
layout(constant_id = 0) const bool A_ALIGNED = false;
layout(constant_id = 1) const bool B_ALIGNED = false;

#include "matmul_interface.glsl"

// xs[m][q] = A[m0 + m, k0 + 4q .. 4q + 3], ws[n][q] likewise for B; one vec4 of padding
// per row (a row is then 20 words, so 8 consecutive rows start in 8 distinct bank quads).
shared vec4 xs[BM][BK / 4 + 1];
shared vec4 ws[BN][BK / 4 + 1];

#if BK / 4 * BM / 4 != THREADS || BK / 4 * BN / 4 != THREADS
#error "the transposed loaders stage one 4 x 4 block per thread"
#endif

#ifdef B_TRANS
// B stored [K, N]: B[n .. n + 3, k] (w[k * N + n ..]), zero outside the matrix.
vec4 b_quad_trans(uint k, uint n) {
#ifdef W_F16
  vec4 v = vec4(0.0);
  if (k < pc.K) {
    if (B_ALIGNED) {
      if (n < pc.N) {
        uint i = (k * pc.N + n) / 2;  // 4 halves in 2 words
        v = vec4(unpackHalf2x16(w[i]), unpackHalf2x16(w[i + 1]));
      }
    } else {
      [[unroll]] for (uint c = 0; c < 4; ++c)
        if (n + c < pc.N) v[c] = weight_at(k * pc.N + n + c);
    }
  }
  return v;
#else
  return w_quad(k, n, pc.K, pc.N, B_ALIGNED);
#endif
}
#endif

// Stages A[m0.., k0..k0 + BK), zero outside the matrix.
void load_a(uint t, uint m0, uint k0) {
#ifdef A_TRANS
  // One 4 (k) x 4 (m) block per thread (BK / 4 x BM / 4 = THREADS blocks): 4 vec4s along m,
  // consecutive threads reading consecutive vec4s of a row, written back transposed as 4
  // vec4s along k.
  uint kq = t / (BM / 4), mq = t % (BM / 4);
  uint m = m0 + 4 * mq, k = k0 + 4 * kq;
  vec4 v[4];
  [[unroll]] for (uint r = 0; r < 4; ++r) v[r] = x_quad(k + r, m, pc.K, pc.M, A_ALIGNED);  // A stored [K, M]
  [[unroll]] for (uint c = 0; c < 4; ++c) xs[4 * mq + c][kq] = vec4(v[0][c], v[1][c], v[2][c], v[3][c]);
#else
  // BM rows of BK / 4 vec4s; consecutive threads read consecutive vec4s of a row.
  [[unroll]] for (uint i = 0; i < BM * BK / 4 / THREADS; ++i) {
    uint idx = t + i * THREADS, r = idx / (BK / 4), q = idx % (BK / 4);
    xs[r][q] = x_quad(m0 + r, k0 + 4 * q, pc.M, pc.K, A_ALIGNED);
  }
#endif
}

// Stages B[n0.., k0..k0 + BK), zero outside the matrix.
void load_b(uint t, uint n0, uint k0) {
#ifdef B_TRANS
  // As A_TRANS above: one 4 (k) x 4 (n) block per thread.
  uint kq = t / (BN / 4), nq = t % (BN / 4);
  uint n = n0 + 4 * nq, k = k0 + 4 * kq;
  vec4 v[4];
  [[unroll]] for (uint r = 0; r < 4; ++r) v[r] = b_quad_trans(k + r, n);
  [[unroll]] for (uint c = 0; c < 4; ++c) ws[4 * nq + c][kq] = vec4(v[0][c], v[1][c], v[2][c], v[3][c]);
#else
#ifdef W_F16
  if (B_ALIGNED) {
    // BN rows of BK / 8 uvec4s (8 halves each).
    [[unroll]] for (uint i = 0; i < BN * BK / 8 / THREADS; ++i) {
      uint idx = t + i * THREADS, r = idx / (BK / 8), h = idx % (BK / 8);
      uint n = n0 + r, k = k0 + 8 * h;
      uvec4 q = uvec4(0);  // zero bits are +0.0 halves
      if (n < pc.N && k < pc.K) q = w4[(n * pc.K + k) / 8];
      ws[r][2 * h] = vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y));
      ws[r][2 * h + 1] = vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w));
    }
    return;
  }
  [[unroll]] for (uint i = 0; i < BN * BK / 4 / THREADS; ++i) {
    uint idx = t + i * THREADS, r = idx / (BK / 4), q = idx % (BK / 4);
    uint n = n0 + r, k = k0 + 4 * q;
    vec4 v = vec4(0.0);
    if (n < pc.N)
      [[unroll]] for (uint c = 0; c < 4; ++c)
        if (k + c < pc.K) v[c] = weight_at(n * pc.K + k + c);
    ws[r][q] = v;
  }
#else
  // BN rows of BK / 4 vec4s, like A.
  [[unroll]] for (uint i = 0; i < BN * BK / 4 / THREADS; ++i) {
    uint idx = t + i * THREADS, r = idx / (BK / 4), q = idx % (BK / 4);
    ws[r][q] = w_quad(n0 + r, k0 + 4 * q, pc.N, pc.K, B_ALIGNED);
  }
#endif
#endif
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint tx = t % (BN / TN), ty = t / (BN / TN);
  uint row_tiles = (pc.M + BM - 1) / BM, col_tiles = (pc.N + BN - 1) / BN;
  // Grid-stride over tiles: the launcher caps each grid dimension at 65535 workgroups.
  for (uint tm = gl_WorkGroupID.y; tm < row_tiles; tm += gl_NumWorkGroups.y) {
    for (uint tn = gl_WorkGroupID.x; tn < col_tiles; tn += gl_NumWorkGroups.x) {
      uint m0 = tm * BM, n0 = tn * BN;
      float acc[TM][TN];
      [[unroll]] for (uint i = 0; i < TM; ++i)
        [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = 0.0;

      for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        load_a(t, m0, k0);
        load_b(t, n0, k0);
        barrier();
        [[unroll]] for (uint q = 0; q < BK / 4; ++q) {
          vec4 a[TM];
          [[unroll]] for (uint i = 0; i < TM; ++i) a[i] = xs[ty + i * (BM / TM)][q];
          // One w vec4 live at a time keeps register pressure down on GPUs.
          [[unroll]] for (uint j = 0; j < TN; ++j) {
            vec4 b = ws[tx + j * (BN / TN)][q];
            [[unroll]] for (uint i = 0; i < TM; ++i)
              acc[i][j] = fma(a[i].w, b.w, fma(a[i].z, b.z, fma(a[i].y, b.y, fma(a[i].x, b.x, acc[i][j]))));
          }
        }
        barrier();  // the next step overwrites the tiles
      }

      [[unroll]] for (uint i = 0; i < TM; ++i) {
        uint m = m0 + ty + i * (BM / TM);
        if (m >= pc.M) break;
        [[unroll]] for (uint j = 0; j < TN; ++j) {
          uint n = n0 + tx + j * (BN / TN);
          if (n >= pc.N) break;
          uint o = m * pc.N + n;
          y[o] = (pc.accumulate != 0 ? y[o] : 0.0) + acc[i][j];
        }
      }
    }
  }
}
