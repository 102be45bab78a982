#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Backward of the embedding gather, without atomics and deterministic:
//   d_table[v, j] += sum over t with tokens[t] == v of d_out[t, j].
// The host groups the token positions by id (groups below); workgroup y takes one distinct
// id (grid-stride), its threads stride over j, and each sums the id's rows in ascending
// position order before one add into d_table. Distinct ids own distinct rows: no races.
// groups (i32), for C positions: U (the distinct ids), the ids [C] (U used), C + 1 offsets
// into the positions (U + 1 used), the positions [C]: group g is id groups[1 + g] at
// positions groups[2 + 2C + p], p in [groups[1 + C + g], groups[2 + C + g]). The layout
// depends on C only, so a recorded step can be replayed with other tokens.
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) buffer Table { float d_table[]; };
layout(std430, set = 0, binding = 1) readonly buffer DOut { float d_out[]; };
layout(std430, set = 0, binding = 2) readonly buffer Groups { int groups[]; };
layout(push_constant) uniform Push {
  uint count;  // C
  uint dim;    // D
} pc;

void main() {
  const uint x_stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint distinct = uint(groups[0]), offsets = 1u + pc.count, positions = 2u + 2u * pc.count;
  for (uint g = gl_WorkGroupID.y; g < distinct; g += gl_NumWorkGroups.y) {
    const uint row = uint(groups[1u + g]) * pc.dim;
    const uint begin = uint(groups[offsets + g]), end = uint(groups[offsets + g + 1u]);
    for (uint j = gl_GlobalInvocationID.x; j < pc.dim; j += x_stride) {
      float sum = 0.0;
      for (uint p = begin; p < end; ++p) sum += d_out[uint(groups[positions + p]) * pc.dim + j];
      d_table[row + j] += sum;
    }
  }
}
