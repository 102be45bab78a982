#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Backward of y = x w^T for w: dw (+)= dy^T x (both operands read transposed), shared-memory tiles.
#define A_TRANS
#define B_TRANS
#include "matmul_tiled.glsl"
