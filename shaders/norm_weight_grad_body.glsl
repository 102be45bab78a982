// Body of norm_weight_grad*.comp, first stage of an RMSNorm weight gradient:
//   dw[i] = sum over rows of dy_eff[row, i] * x[row, i] * inv_rms[row]
// (dy_eff = dy, or dy * swish(gate) with SWISH_GATE). Workgroup (cx, b) sums the rows of
// block b for 64 columns, 4 threads per column, into scratch[rows + b * n + i]; the second
// stage (column_sum.comp) adds the blocks up into dw. Two stages keep all of a large GPU busy
// without float atomics (not core Vulkan), and the sum order is fixed (deterministic).
// scratch[0, rows) holds inv_rms (written by the row-wise backward).
#define COLS 64
#define LANES 4
layout(local_size_x = COLS * LANES) in;

layout(std430, set = 0, binding = 0) buffer Scratch { float scratch[]; };
layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 2) readonly buffer DY { float dy[]; };
#ifdef SWISH_GATE
layout(std430, set = 0, binding = 3) readonly buffer Gate { float gate[]; };
#endif
layout(push_constant) uniform Push {
  uint n;
  uint rows;
  uint rows_per_block;
} pc;

shared float lane_sums[LANES][COLS];

void main() {
  const uint col_local = gl_LocalInvocationID.x % COLS, lane = gl_LocalInvocationID.x / COLS;
  const uint col = gl_WorkGroupID.x * COLS + col_local;
  const uint first = gl_WorkGroupID.y * pc.rows_per_block;
  const uint last = min(first + pc.rows_per_block, pc.rows);
  float sum = 0.0;
  if (col < pc.n) {
    for (uint row = first + lane; row < last; row += LANES) {
      const uint i = row * pc.n + col;
#ifdef SWISH_GATE
      sum += dy[i] * swish(gate[i]) * x[i] * scratch[row];
#else
      sum += dy[i] * x[i] * scratch[row];
#endif
    }
  }
  lane_sums[lane][col_local] = sum;
  barrier();
  if (lane == 0 && col < pc.n) {
    float total = 0.0;
    [[unroll]] for (uint l = 0; l < LANES; ++l) total += lane_sums[l][col_local];
    scratch[pc.rows + gl_WorkGroupID.y * pc.n + col] = total;
  }
}
