#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// c (+)= sum over z < slices of partials[z n + i]: adds up the blocks a matmul with a split
// reduction wrote (matmul_coopmat.glsl), in a fixed order, so results are reproducible.
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) buffer C { float c[]; };
layout(std430, set = 0, binding = 1) readonly buffer P { float partials[]; };
layout(push_constant) uniform Push {
  uint n;  // elements of c
  uint slices;
  uint accumulate;
} pc;

void main() {
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += 256u * gl_NumWorkGroups.x) {
    float sum = pc.accumulate != 0 ? c[i] : 0.0;
    for (uint z = 0; z < pc.slices; ++z) sum += partials[z * pc.n + i];
    c[i] = sum;
  }
}
