// Shared body of the RMSNorm shaders (rmsnorm*.comp, rmsnorm_swish_gate*.comp).
//   y = x / sqrt(mean(x^2) + eps) * w                       (plain)
//   y = x / sqrt(mean(x^2) + eps) * w * swish(gate)         (SWISH_GATE: RetNet's per-head norm)
// One workgroup per row (grid-stride over rows, so any row count fits in 65535 groups);
// each thread strides over the row, so any row length works. The sum of squares is reduced
// with subgroupAdd (USE_SUBGROUPS) or a shared-memory tree (WG_SIZE must be a power of two).
// Rows are row-major and contiguous: element i of row r is at r * n + i, weight index i.

layout(constant_id = 0) const uint WG_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) writeonly buffer Y { float y[]; };
layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 2) readonly buffer W { float w[]; };
#ifdef SWISH_GATE
layout(std430, set = 0, binding = 3) readonly buffer Gate { float gate[]; };
#endif
layout(push_constant) uniform Push {
  uint n;     // row length
  uint rows;
  float eps;
} pc;

#include "workgroup_sum.glsl"
#ifdef SWISH_GATE
#define OUTPUT_MAXIMA_BINDING 4
#else
#define OUTPUT_MAXIMA_BINDING 3
#endif
#define OUTPUT_MAXIMA_CONSTANT 1
#include "output_maxima.glsl"

void main() {
  const uint lid = gl_LocalInvocationID.x;
  // The row loop bound is uniform across the workgroup, so the barriers inside are legal.
  for (uint row = gl_WorkGroupID.x; row < pc.rows; row += gl_NumWorkGroups.x) {
    const uint base = row * pc.n;
    float sum_sq = 0.0;
    for (uint i = lid; i < pc.n; i += WG_SIZE) {
      const float v = x[base + i];
      sum_sq += v * v;
    }
    const float scale = inversesqrt(workgroup_sum(sum_sq) / float(pc.n) + pc.eps);
    for (uint i = lid; i < pc.n; i += WG_SIZE) {
      float v = x[base + i] * scale * w[i];
#ifdef SWISH_GATE
      v *= swish(gate[base + i]);
#endif
      y[base + i] = v;
      note_output(0, v);
    }
  }
  publish_output_maxima();
}
