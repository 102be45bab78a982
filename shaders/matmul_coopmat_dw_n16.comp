#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// dw (+)= dy^T x on tensor cores (dy f32 [M, N] and x f32 [M, K], both scaled into f16's
// range), 16 x 16 x 16 fragments (see matmul_coopmat.glsl).
#define FRAG_N 16
#define A_T
#define SCALED
#include "matmul_coopmat.glsl"
