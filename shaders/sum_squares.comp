#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// partials[offset + workgroup] = sum of x^2 over this workgroup's grid-stride share of x:
// the first pass of the global gradient norm (summed by reduce_sum.comp).
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer P { float partials[]; };
layout(push_constant) uniform Push { uint n, offset; } pc;
shared float sums[256];

void main() {
  const uint tid = gl_LocalInvocationID.x;
  float s = 0.0;
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += gl_NumWorkGroups.x * 256u) s += x[i] * x[i];
  sums[tid] = s;
  barrier();
  for (uint stride = 128u; stride > 0u; stride >>= 1) {
    if (tid < stride) sums[tid] += sums[tid + stride];
    barrier();
  }
  if (tid == 0u) partials[pc.offset + gl_WorkGroupID.x] = sums[0];
}
