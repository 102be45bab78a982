#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// dx (+)= dy w on tensor cores (dy f32 [M, N] scaled into f16's range, w f16 [N, K]),
// 16 x 16 x 16 fragments (see matmul_coopmat.glsl).
#define FRAG_N 16
#define B_F16
#define SCALED
#include "matmul_coopmat.glsl"
