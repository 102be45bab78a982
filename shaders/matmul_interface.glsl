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

// x[m, k .. k + 3], zero outside the matrix; `aligned` (K % 4 == 0) makes it one vec4 load.
vec4 x_quad(uint m, uint k, bool aligned) {
  vec4 v = vec4(0.0);
  if (m < pc.M) {
    if (aligned) {
      if (k < pc.K) v = x4[(m * pc.K + k) / 4];
    } else {
      [[unroll]] for (uint c = 0; c < 4; ++c)
        if (k + c < pc.K) v[c] = x[m * pc.K + k + c];
    }
  }
  return v;
}

float weight_at(uint i) {
#ifdef W_F16
  return unpackHalf2x16(w[i >> 1])[i & 1];
#else
  return w[i];
#endif
}
