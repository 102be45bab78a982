#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// y (+)= x w^T on tensor cores, 16 x 8 x 16 fragments (see matmul_coopmat.glsl).
#define FRAG_N 8
#include "matmul_coopmat.glsl"
