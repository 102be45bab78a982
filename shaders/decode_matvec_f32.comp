#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Fused decode matrix-vector products, f32 weights (see decode_matvec.glsl).

#include "decode_matvec.glsl"
