#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// partials[offset + workgroup] = sum of x^2 over this workgroup's grid-stride share of x:
// the first pass of the global gradient norm (summed by reduce_sum.comp). x is read in vec4s
// (16-byte loads keep more of memory in flight than one float per thread); the n % 4 floats
// after the last whole vec4 are the first workgroup's.
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, set = 0, binding = 1) buffer P { float partials[]; };
layout(push_constant) uniform Push { uint n, offset; } pc;
shared float sums[256];

void main() {
  const uint tid = gl_LocalInvocationID.x, vecs = pc.n / 4;
  float s = 0.0;
  for (uint i = gl_GlobalInvocationID.x; i < vecs; i += gl_NumWorkGroups.x * 256u) s += dot(x4[i], x4[i]);
  if (gl_WorkGroupID.x == 0u && 4u * vecs + tid < pc.n) s += x[4u * vecs + tid] * x[4u * vecs + tid];
  sums[tid] = s;
  barrier();
  for (uint stride = 128u; stride > 0u; stride >>= 1) {
    if (tid < stride) sums[tid] += sums[tid + stride];
    barrier();
  }
  if (tid == 0u) partials[pc.offset + gl_WorkGroupID.x] = sums[0];
}
