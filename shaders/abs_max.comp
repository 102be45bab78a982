#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// maxima[slot] = max(maxima[slot], max |values[0..n)|), as float bits: the bits of
// non-negative floats order like the numbers, so an integer atomicMax combines workgroups
// (the caller zeroes the slot first). NaN's bits exceed infinity's, so a NaN anywhere shows.
// Feeds the power-of-two scaling of the tensor-core backward matmuls.
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) buffer Maxima { uint maxima[]; };
layout(std430, set = 0, binding = 1) readonly buffer V { float values[]; };
layout(std430, set = 0, binding = 1) readonly buffer V4 { vec4 values4[]; };
layout(push_constant) uniform Push {
  uint n;
  uint slot;
} pc;
shared uint partial[256];

void main() {
  const uint tid = gl_LocalInvocationID.x, stride = 256u * gl_NumWorkGroups.x;
  uint m = 0u;
  // vec4 loads (the buffers start on 16 bytes), four issued before any is used, so that more
  // bytes are in flight (the small config's training step on the H100: 4.78 ms of abs_max with
  // one load at a time, 4.23 with four).
  const uint n4 = pc.n / 4;
  uint i = gl_GlobalInvocationID.x;
  for (; i + 3u * stride < n4; i += 4u * stride) {
    const uvec4 b0 = floatBitsToUint(abs(values4[i])), b1 = floatBitsToUint(abs(values4[i + stride]));
    const uvec4 b2 = floatBitsToUint(abs(values4[i + 2u * stride])), b3 = floatBitsToUint(abs(values4[i + 3u * stride]));
    const uvec4 b = max(max(b0, b1), max(b2, b3));
    m = max(m, max(max(b.x, b.y), max(b.z, b.w)));
  }
  for (; i < n4; i += stride) {
    const uvec4 b = floatBitsToUint(abs(values4[i]));
    m = max(m, max(max(b.x, b.y), max(b.z, b.w)));
  }
  for (uint i = 4 * (pc.n / 4) + gl_GlobalInvocationID.x; i < pc.n; i += stride)
    m = max(m, floatBitsToUint(abs(values[i])));
  partial[tid] = m;
  barrier();
  for (uint half_size = 128u; half_size > 0u; half_size >>= 1) {
    if (tid < half_size) partial[tid] = max(partial[tid], partial[tid + half_size]);
    barrier();
  }
  if (tid == 0u) atomicMax(maxima[pc.slot], partial[0]);
}
