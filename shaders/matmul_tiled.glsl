// Body of the matmul_tiled_* shaders: y[M,N] (+)= x[M,K] w[N,K]^T for many rows (prefill).
// A workgroup of 64 threads computes a 64 x 64 tile of y, each thread an 8 x 8 micro-tile
// (rows ty + 8 i, columns tx + 8 j). K is walked in steps of BK = 16: the step's slices of
// x and w are staged in shared memory as vec4s along k, then each thread reads 8 x vec4s
// and 8 w vec4s for 256 multiply-adds. Loads are few per multiply-add (shared-memory reads
// cost the most on CPU drivers such as llvmpipe), and on GPUs a warp's w reads fall into
// distinct banks thanks to the padded rows.
// Defines: W_F16 (weights are f16 read as words, else f32).
// Bindings: 0 y f32 [M,N], 1 x f32 [M,K], 2 w [N,K].

#define BM 64
#define BN 64
#define BK 16
#define THREADS 64
#define TM 8  // micro-tile rows per thread
#define TN 8  // micro-tile columns per thread

layout(local_size_x = THREADS) in;
// K % 4 == 0 (and K % 8 == 0 for f16 weights): slices are read with vector loads.
layout(constant_id = 0) const bool ALIGNED = false;

#include "matmul_interface.glsl"

// xs[m][q] = x[m0 + m, k0 + 4q .. 4q + 3], ws[n][q] likewise for w; one vec4 of padding
// per row (a row is then 20 words, so 8 consecutive rows start in 8 distinct bank quads).
shared vec4 xs[BM][BK / 4 + 1];
shared vec4 ws[BN][BK / 4 + 1];


// Stages x[m0.., k0..k0 + BK) and w[n0.., k0..k0 + BK), zero outside the matrices.
void load_tiles(uint t, uint m0, uint n0, uint k0) {
  // x: BM rows of BK / 4 vec4s; consecutive threads read consecutive vec4s of a row.
  [[unroll]] for (uint i = 0; i < BM * BK / 4 / THREADS; ++i) {
    uint idx = t + i * THREADS, r = idx / (BK / 4), q = idx % (BK / 4);
    uint m = m0 + r, k = k0 + 4 * q;
    vec4 v = vec4(0.0);
    if (m < pc.M) {
      if (ALIGNED) {
        if (k < pc.K) v = x4[(m * pc.K + k) / 4];
      } else {
        [[unroll]] for (uint c = 0; c < 4; ++c)
          if (k + c < pc.K) v[c] = x[m * pc.K + k + c];
      }
    }
    xs[r][q] = v;
  }
#ifdef W_F16
  if (ALIGNED) {
    // w: BN rows of BK / 8 uvec4s (8 halves each).
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
#else
  if (ALIGNED) {
    [[unroll]] for (uint i = 0; i < BN * BK / 4 / THREADS; ++i) {
      uint idx = t + i * THREADS, r = idx / (BK / 4), q = idx % (BK / 4);
      uint n = n0 + r, k = k0 + 4 * q;
      ws[r][q] = n < pc.N && k < pc.K ? w4[(n * pc.K + k) / 4] : vec4(0.0);
    }
    return;
  }
#endif
  [[unroll]] for (uint i = 0; i < BN * BK / 4 / THREADS; ++i) {
    uint idx = t + i * THREADS, r = idx / (BK / 4), q = idx % (BK / 4);
    uint n = n0 + r, k = k0 + 4 * q;
    vec4 v = vec4(0.0);
    if (n < pc.N)
      [[unroll]] for (uint c = 0; c < 4; ++c)
        if (k + c < pc.K) v[c] = weight_at(n * pc.K + k + c);
    ws[r][q] = v;
  }
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
        load_tiles(t, m0, n0, k0);
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
