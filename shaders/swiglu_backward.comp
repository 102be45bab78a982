#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Backward of out = swish(gate) * up: dgate = dout * up * swish'(gate), dup = dout * swish(gate).
// dgate may alias gate and dup may alias up (each element is read before it is written).
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) buffer DGate { float dgate[]; };
layout(std430, set = 0, binding = 1) buffer DUp { float dup[]; };
layout(std430, set = 0, binding = 2) readonly buffer Gate { float gate[]; };
layout(std430, set = 0, binding = 3) readonly buffer Up { float up[]; };
layout(std430, set = 0, binding = 4) readonly buffer DOut { float dout[]; };
layout(push_constant) uniform Push { uint n; } pc;
#define OUTPUT_MAXIMA_BINDING 5
#define OUTPUT_MAXIMA_CONSTANT 0
#include "output_maxima.glsl"  // outputs 0 dgate, 1 dup

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) {
    const float z = gate[i], u = up[i], d = dout[i];
    const float dz = d * u * swish_derivative(z), du = d * swish(z);
    dgate[i] = dz;
    dup[i] = du;
    note_output(0, dz);
    note_output(1, du);
  }
  publish_output_maxima();
}
