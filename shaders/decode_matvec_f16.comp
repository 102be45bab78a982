#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Fused decode matrix-vector products, f16 weights (see decode_matvec.glsl).
#define W_F16
#include "decode_matvec.glsl"
