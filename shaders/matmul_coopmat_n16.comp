#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// y (+)= x w^T on tensor cores (the forward of nn.Linear: x f32 [M, K], w f16 [N, K]),
// 16 x 16 x 16 fragments (see matmul_coopmat.glsl).
#define FRAG_N 16
#define B_F16
#define B_T
#include "matmul_coopmat.glsl"
