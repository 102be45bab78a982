// y[M,N] = x[M,K] w[N,K]^T for few rows (M <= MAX_ROWS: decode). Bandwidth-bound: each
// workgroup reads COLS weight rows once, the threads split K, and the partial sums of all
// M x COLS outputs are reduced across the workgroup (subgroupAdd, or shared memory).
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint THREADS = 128;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
#include "matmul_weights.glsl"
layout(std430, set = 0, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint M, N, K; } pc;

const uint MAX_ROWS = 8, COLS = 4, OUTS = MAX_ROWS * COLS;
#ifdef USE_SUBGROUPS
shared float partial[OUTS][32];  // one slot per subgroup (at most 32 of them)
#else
shared float partial[OUTS][THREADS];
#endif

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint col0 = gl_WorkGroupID.x * COLS;
  float acc[MAX_ROWS][COLS];
  [[unroll]] for (uint m = 0; m < MAX_ROWS; ++m) [[unroll]] for (uint c = 0; c < COLS; ++c) acc[m][c] = 0.0;

  for (uint k = tid; k < pc.K; k += THREADS) {
    float w[COLS];
    [[unroll]] for (uint c = 0; c < COLS; ++c) w[c] = (col0 + c < pc.N) ? weight_at((col0 + c) * pc.K + k) : 0.0;
    [[unroll]] for (uint m = 0; m < MAX_ROWS; ++m) {
      if (m >= pc.M) break;
      float xv = x[m * pc.K + k];
      [[unroll]] for (uint c = 0; c < COLS; ++c) acc[m][c] += xv * w[c];
    }
  }

#ifdef USE_SUBGROUPS
  const uint subgroups = (THREADS + gl_SubgroupSize - 1) / gl_SubgroupSize;
  [[unroll]] for (uint m = 0; m < MAX_ROWS; ++m) [[unroll]] for (uint c = 0; c < COLS; ++c) {
    float s = subgroupAdd(acc[m][c]);
    if (subgroupElect()) partial[m * COLS + c][gl_SubgroupID] = s;
  }
  barrier();
  if (tid < OUTS) {
    uint m = tid / COLS, c = tid % COLS;
    float s = 0.0;
    for (uint i = 0; i < subgroups; ++i) s += partial[tid][i];
    if (m < pc.M && col0 + c < pc.N) y[m * pc.N + col0 + c] = s;
  }
#else
  [[unroll]] for (uint m = 0; m < MAX_ROWS; ++m) [[unroll]] for (uint c = 0; c < COLS; ++c) partial[m * COLS + c][tid] = acc[m][c];
  barrier();
  for (uint stride = THREADS / 2; stride > 0; stride /= 2) {
    if (tid < stride)
      for (uint o = 0; o < OUTS; ++o) partial[o][tid] += partial[o][tid + stride];
    barrier();
  }
  if (tid < OUTS) {
    uint m = tid / COLS, c = tid % COLS;
    if (m < pc.M && col0 + c < pc.N) y[m * pc.N + col0 + c] = partial[tid][0];
  }
#endif
}
