// Weight access for the matmul shaders: W is [N, K] row-major, f32 or f16. f16 weights are
// bound as 32-bit words and decoded with unpackHalf2x16, which needs no device feature.
#ifdef WEIGHT_F16
layout(std430, set = 0, binding = 1) readonly buffer W { uint w_words[]; };
float weight_at(uint i) {
  vec2 pair = unpackHalf2x16(w_words[i >> 1]);
  return (i & 1u) == 0u ? pair.x : pair.y;
}
#else
layout(std430, set = 0, binding = 1) readonly buffer W { float w_values[]; };
float weight_at(uint i) { return w_values[i]; }
#endif
