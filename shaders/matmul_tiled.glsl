// y[M,N] = x[M,K] w[N,K]^T with 64x64 output tiles in shared memory, K in steps of 16, each
// of the 256 threads accumulating a 4x4 block in registers. Any M, N, K (edges are guarded).
layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
#include "matmul_weights.glsl"
layout(std430, set = 0, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint M, N, K; } pc;

const uint TILE = 64, KSTEP = 16;
shared float xs[KSTEP][TILE + 1];  // +1: no bank conflicts on the transposed store
shared float ws[KSTEP][TILE + 1];

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  const uint tid = ty * 16 + tx;
  const uint row0 = gl_WorkGroupID.y * TILE, col0 = gl_WorkGroupID.x * TILE;
  float acc[4][4];
  [[unroll]] for (uint i = 0; i < 4; ++i) [[unroll]] for (uint j = 0; j < 4; ++j) acc[i][j] = 0.0;

  for (uint k0 = 0; k0 < pc.K; k0 += KSTEP) {
    // 64 rows x 16 k of each operand: 1024 values, 4 per thread, consecutive threads along k.
    [[unroll]] for (uint e = 0; e < 4; ++e) {
      uint idx = tid + e * 256;
      uint r = idx / KSTEP, kk = idx % KSTEP;
      uint k = k0 + kk;
      uint xr = row0 + r, wr = col0 + r;
      xs[kk][r] = (xr < pc.M && k < pc.K) ? x[xr * pc.K + k] : 0.0;
      ws[kk][r] = (wr < pc.N && k < pc.K) ? weight_at(wr * pc.K + k) : 0.0;
    }
    barrier();
    [[unroll]] for (uint kk = 0; kk < KSTEP; ++kk) {
      float a[4], b[4];
      [[unroll]] for (uint i = 0; i < 4; ++i) a[i] = xs[kk][ty + 16 * i];
      [[unroll]] for (uint j = 0; j < 4; ++j) b[j] = ws[kk][tx + 16 * j];
      [[unroll]] for (uint i = 0; i < 4; ++i) [[unroll]] for (uint j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    barrier();
  }
  [[unroll]] for (uint i = 0; i < 4; ++i) {
    uint r = row0 + ty + 16 * i;
    if (r >= pc.M) continue;
    [[unroll]] for (uint j = 0; j < 4; ++j) {
      uint c = col0 + tx + 16 * j;
      if (c < pc.N) y[r * pc.N + c] = acc[i][j];
    }
  }
}
