#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Rotary position embedding, in place, non-interleaved halves, base 10000:
//   x'[i] = x[i] cos(a) - x[i+d/2] sin(a),  x'[i+d/2] = x[i+d/2] cos(a) + x[i] sin(a),
//   a = t * 10000^(-2i/d),  t = positions[row].
// x is [rows, heads, d]; one thread per (row, i) pair, looping over the heads.
//
// The angle is reduced exactly modulo one turn: see rotary_angle.glsl.
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Positions { int positions[]; };
layout(push_constant) uniform Push {
  uint pairs;             // rows * half_dim
  uint half_dim;          // d / 2
  uint heads;
  uint row_stride;        // heads * d
  vec2 turns_per_radian;  // 1 / (2 pi) as hi + lo
  vec2 ratio_powers[10];  // 10000^(-2^(k+1) / d) as hi + lo, k = 0..9 (so i < 1024)
  float direction;        // 1: rotate by a (forward), -1: by -a (the backward pass, a rotation's transpose)
} pc;

#include "rotary_angle.glsl"
#define OUTPUT_MAXIMA_BINDING 2
#define OUTPUT_MAXIMA_CONSTANT 0
#include "output_maxima.glsl"

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint g = gl_GlobalInvocationID.x; g < pc.pairs; g += stride) {
    const uint row = g / pc.half_dim;
    const uint i = g - row * pc.half_dim;

    const vec2 sc = rotary_sin_cos(positions[row], i) * vec2(pc.direction, 1.0);

    uint base = row * pc.row_stride + i;
    for (uint h = 0; h < pc.heads; ++h, base += 2 * pc.half_dim) {
      const float a = x[base], b = x[base + pc.half_dim];
      const float a2 = a * sc.y - b * sc.x, b2 = b * sc.y + a * sc.x;
      x[base] = a2;
      x[base + pc.half_dim] = b2;
      note_output(0, max(abs(a2), abs(b2)));
    }
  }
  publish_output_maxima();
}
