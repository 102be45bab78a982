#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// out[0] = sum of values[0..n): one workgroup, so the result needs no second pass.
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer V { float values[]; };
layout(std430, set = 0, binding = 1) writeonly buffer O { float result[]; };
layout(push_constant) uniform Push { uint n; } pc;
shared float sums[256];

void main() {
  const uint tid = gl_LocalInvocationID.x;
  float s = 0.0;
  for (uint i = tid; i < pc.n; i += 256u) s += values[i];
  sums[tid] = s;
  barrier();
  for (uint stride = 128u; stride > 0u; stride >>= 1) {
    if (tid < stride) sums[tid] += sums[tid + stride];
    barrier();
  }
  if (tid == 0u) result[0] = sums[0];
}
