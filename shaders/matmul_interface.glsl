// The interface shared by the matmul shaders: y (+)= x w^T with x f32 [M, K], w f32 or f16
// (W_F16) [N, K], y f32 [M, N]. x and w are declared twice on the same binding: scalar access
// for any K, vector access for the aligned fast path.
layout(push_constant) uniform Push {
  uint M, N, K;
  uint accumulate;  // 1: y += x w^T, 0: y = x w^T
} pc;

layout(std430, set = 0, binding = 0) buffer Y { float y[]; };
layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer X4 { vec4 x4[]; };
#ifdef W_F16
layout(std430, set = 0, binding = 2) readonly buffer W { uint w[]; };
layout(std430, set = 0, binding = 2) readonly buffer W4 { uvec4 w4[]; };
#else
layout(std430, set = 0, binding = 2) readonly buffer W { float w[]; };
layout(std430, set = 0, binding = 2) readonly buffer W4 { vec4 w4[]; };
#endif

#include "matrix_quad.glsl"
// x_quad(row, col, rows, cols, aligned): 4 floats of x seen as a rows x cols matrix (x is [M, K],
// or [K, M] where the caller reads it transposed).
DEFINE_F32_QUAD(x_quad, x, x4)
#ifndef W_F16
DEFINE_F32_QUAD(w_quad, w, w4)
#endif

float weight_at(uint i) {
#ifdef W_F16
  return unpackHalf2x16(w[i >> 1])[i & 1];
#else
  return w[i];
#endif
}
