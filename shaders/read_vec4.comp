#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Sums src[first .. first + n) in 16-byte words: the device's achievable read bandwidth, the
// ceiling of a decode step (which reads weights and writes next to nothing), for retnet-bench.
// A thread stores its sum only where it equals pc.never (which the bench's zero-filled source
// never gives), so the loads cannot be left out and next to nothing is written.
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer Src { vec4 src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { vec4 dst[]; };
layout(push_constant) uniform Push { uint n, first; float never; } pc;  // 16-byte words

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  vec4 sum = vec4(0.0);
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) sum += src[pc.first + i];
  if (sum.x == pc.never) dst[gl_GlobalInvocationID.x] = sum;
}
