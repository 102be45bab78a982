#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// SwiGLU of the RetNet MLP, elementwise: out = swish(gate) * up. out may alias gate or up.
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) writeonly buffer Out { float out_values[]; };
layout(std430, set = 0, binding = 1) readonly buffer Gate { float gate[]; };
layout(std430, set = 0, binding = 2) readonly buffer Up { float up[]; };
layout(push_constant) uniform Push { uint n; } pc;
#define OUTPUT_MAXIMA_BINDING 3
#define OUTPUT_MAXIMA_CONSTANT 0
#include "output_maxima.glsl"

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) {
    const float v = swish(gate[i]) * up[i];
    out_values[i] = v;
    note_output(0, v);
  }
  publish_output_maxima();
}
