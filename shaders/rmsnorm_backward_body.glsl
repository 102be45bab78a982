// Shared body of the RMSNorm backward shaders (rmsnorm_backward*.comp, rmsnorm_swish_gate_backward*.comp).
// Per row of n values, with r = 1/sqrt(mean(x^2) + eps) and u = dy_eff * w:
//   dx = r u - x r^3 sum(u x) / n   (written, or added when pc.accumulate != 0)
// where dy_eff = dy (plain) or dy * swish(gate) (SWISH_GATE, which also writes
//   dgate = dy * x r w * swish'(gate)).
// r of every row goes to inv_rms for the weight gradient (norm_weight_grad*.comp).
// One workgroup per row, grid-stride over rows, as the forward.

layout(constant_id = 0) const uint WG_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) buffer DX { float dx[]; };
layout(std430, set = 0, binding = 1) writeonly buffer InvRms { float inv_rms[]; };
layout(std430, set = 0, binding = 2) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 3) readonly buffer W { float w[]; };
layout(std430, set = 0, binding = 4) readonly buffer DY { float dy[]; };
#ifdef SWISH_GATE
layout(std430, set = 0, binding = 5) readonly buffer Gate { float gate[]; };
layout(std430, set = 0, binding = 6) writeonly buffer DGate { float dgate[]; };
#endif
layout(push_constant) uniform Push {
  uint n;  // row length (the weight's size)
  uint rows;
  float eps;
  uint accumulate;
} pc;

#include "workgroup_sum.glsl"
#ifdef SWISH_GATE
#define OUTPUT_MAXIMA_BINDING 7
#else
#define OUTPUT_MAXIMA_BINDING 5
#endif
#define OUTPUT_MAXIMA_CONSTANT 1
#include "output_maxima.glsl"  // outputs 0 dx (with what it was added to), 1 dgate

// The gradient reaching the norm's output.
float dy_effective(uint i) {
#ifdef SWISH_GATE
  return dy[i] * swish(gate[i]);
#else
  return dy[i];
#endif
}

void main() {
  const uint lid = gl_LocalInvocationID.x;
  for (uint row = gl_WorkGroupID.x; row < pc.rows; row += gl_NumWorkGroups.x) {
    const uint base = row * pc.n;
    float sum_sq = 0.0, dot_ux = 0.0;
    for (uint i = lid; i < pc.n; i += WG_SIZE) {
      const float v = x[base + i];
      sum_sq += v * v;
      dot_ux += dy_effective(base + i) * w[i] * v;
    }
    const float r = inversesqrt(workgroup_sum(sum_sq) / float(pc.n) + pc.eps);
    const float c = r * r * r * workgroup_sum(dot_ux) / float(pc.n);
    if (lid == 0) inv_rms[row] = r;
    for (uint i = lid; i < pc.n; i += WG_SIZE) {
      const float v = x[base + i];
      const float g = r * dy_effective(base + i) * w[i] - v * c;
      const float d = pc.accumulate != 0 ? dx[base + i] + g : g;
      dx[base + i] = d;
      note_output(0, d);
#ifdef SWISH_GATE
      const float dg = dy[base + i] * v * r * w[i] * swish_derivative(gate[base + i]);
      dgate[base + i] = dg;
      note_output(1, dg);
#endif
    }
  }
  publish_output_maxima();
}
