#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// dst (f16 pairs in 32-bit words) = src (f32), rounded by packHalf2x16 exactly as the AdamW
// step writes its f16 copy, so a copy made here equals one the optimizer would have made.
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) writeonly buffer Dst { uint dst[]; };
layout(std430, set = 0, binding = 1) readonly buffer Src { float src[]; };
layout(push_constant) uniform Push { uint words; } pc;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint w = gl_GlobalInvocationID.x; w < pc.words; w += stride)
    dst[w] = packHalf2x16(vec2(src[2u * w], src[2u * w + 1u]));
}
