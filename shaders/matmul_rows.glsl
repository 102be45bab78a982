// Body of the matmul_rows_* shaders: y[M,N] (+)= x[M,K] w[N,K]^T for few rows (decode).
// Decode is bound by reading the weights, so a workgroup takes 4 output columns (one vec4
// of sums per row) of up to ROWS rows, its threads split K into chunks of one wide load
// (a vec4 of f32 or a uvec4 of 8 halves), every weight chunk is read once for all ROWS
// rows, and every x chunk serves all 4 columns. The threads' partial sums are then reduced
// over the workgroup.
// Defines: W_F16 (weights are f16 read as words, else f32), USE_SUBGROUPS (subgroupAdd).
// Bindings: 0 y f32 [M,N], 1 x f32 [M,K], 2 w [N,K].

#define WG 64
#define COLS 4
#define MAX_ROWS 8

layout(local_size_x = WG) in;
layout(constant_id = 0) const uint ROWS = 1;         // rows per workgroup, 1..MAX_ROWS
layout(constant_id = 1) const bool ALIGNED = false;  // K % CHUNK == 0: only wide loads

#include "matmul_interface.glsl"
#ifdef W_F16
#define CHUNK 8
#else
#define CHUNK 4
#endif
#define VECS (CHUNK / 4)  // vec4s per chunk

#ifdef USE_SUBGROUPS
#define MAX_SUBGROUPS (WG / 4)  // the launcher uses this variant only for subgroups of >= 4
shared vec4 partial[MAX_SUBGROUPS * ROWS];  // [subgroup][row]
#else
shared vec4 partial[WG * ROWS];  // [thread][row]
#endif


// Chunk [k, k + CHUNK) of weight row n as VECS vec4s; zero past K.
void load_weights(uint n, uint k, out vec4 v[VECS]) {
  uint base = n * pc.K + k;
  if (ALIGNED) {
#ifdef W_F16
    uvec4 q = w4[base / 8];
    v[0] = vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y));
    v[1] = vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w));
#else
    v[0] = w4[base / 4];
#endif
  } else {
    [[unroll]] for (uint i = 0; i < CHUNK; ++i) v[i / 4][i % 4] = k + i < pc.K ? weight_at(base + i) : 0.0;
  }
}

// Chunk [k, k + CHUNK) of x row m; zero past K.
void load_x(uint m, uint k, out vec4 v[VECS]) {
  uint base = m * pc.K + k;
  if (ALIGNED) {
    [[unroll]] for (uint i = 0; i < VECS; ++i) v[i] = x4[base / 4 + i];
  } else {
    [[unroll]] for (uint i = 0; i < CHUNK; ++i) v[i / 4][i % 4] = k + i < pc.K ? x[base + i] : 0.0;
  }
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint col_blocks = (pc.N + COLS - 1) / COLS;
  uint row_blocks = (pc.M + ROWS - 1) / ROWS;
  uint chunks = (pc.K + CHUNK - 1) / CHUNK;
  // Grid-stride over blocks: the launcher caps each grid dimension at 65535 workgroups.
  for (uint rb = gl_WorkGroupID.y; rb < row_blocks; rb += gl_NumWorkGroups.y) {
    for (uint cb = gl_WorkGroupID.x; cb < col_blocks; cb += gl_NumWorkGroups.x) {
      uint m0 = rb * ROWS, n0 = cb * COLS;
      vec4 acc[MAX_ROWS];  // acc[r][j]: row m0 + r, column n0 + j
      [[unroll]] for (uint r = 0; r < ROWS; ++r) acc[r] = vec4(0.0);

      for (uint c = t; c < chunks; c += WG) {
        uint k = c * CHUNK;
        vec4 wv[COLS][VECS];
        // Past the last row or column, read a valid one again (its result is not stored):
        // this keeps bounds checks out of the loop.
        [[unroll]] for (uint j = 0; j < COLS; ++j) load_weights(min(n0 + j, pc.N - 1), k, wv[j]);
        [[unroll]] for (uint r = 0; r < ROWS; ++r) {
          vec4 xv[VECS];
          load_x(min(m0 + r, pc.M - 1), k, xv);
          [[unroll]] for (uint j = 0; j < COLS; ++j)
            [[unroll]] for (uint v = 0; v < VECS; ++v) acc[r][j] += dot(xv[v], wv[j][v]);
        }
      }

      vec4 sum;
#ifdef USE_SUBGROUPS
      [[unroll]] for (uint r = 0; r < ROWS; ++r) {
        vec4 s = subgroupAdd(acc[r]);
        if (subgroupElect()) partial[gl_SubgroupID * ROWS + r] = s;
      }
      barrier();
      if (t < ROWS) {
        sum = vec4(0.0);
        for (uint g = 0; g < gl_NumSubgroups; ++g) sum += partial[g * ROWS + t];
      }
#else
      [[unroll]] for (uint r = 0; r < ROWS; ++r) partial[t * ROWS + r] = acc[r];
      [[unroll]] for (uint half_width = WG / 2; half_width > 0; half_width /= 2) {
        barrier();
        if (t < half_width)
          [[unroll]] for (uint r = 0; r < ROWS; ++r) partial[t * ROWS + r] += partial[(t + half_width) * ROWS + r];
      }
      barrier();
      if (t < ROWS) sum = partial[t];
#endif
      uint m = m0 + t;
      if (t < ROWS && m < pc.M) {
        [[unroll]] for (uint j = 0; j < COLS; ++j) {
          uint n = n0 + j, o = m * pc.N + n;
          if (n < pc.N) y[o] = (pc.accumulate != 0 ? y[o] : 0.0) + sum[j];
        }
      }
      barrier();  // `partial` is reused by the next block
    }
  }
}
