#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Second stage of a column reduction: out[i] += sum over b < blocks of partial[offset + b * n + i],
// in a fixed order (deterministic). One thread per column, grid-stride.
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) buffer Out { float out_values[]; };
layout(std430, set = 0, binding = 1) readonly buffer Partial { float partial[]; };
layout(push_constant) uniform Push {
  uint n;
  uint blocks;
  uint offset;
} pc;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) {
    float total = 0.0;
    for (uint b = 0; b < pc.blocks; ++b) total += partial[pc.offset + b * pc.n + i];
    out_values[i] += total;
  }
}
