#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// y (+)= x w^T on tensor cores, 16 x 16 x 16 fragments, w staged K-major (see matmul_coopmat.glsl).
#define FRAG_N 16
#define W_K_MAJOR
#include "matmul_coopmat.glsl"
