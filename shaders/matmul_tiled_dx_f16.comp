#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Backward of y = x w^T for x: dx (+)= dy w with f16 w (read as words, transposed), shared-memory tiles.
#define B_TRANS
#define W_F16
#include "matmul_tiled.glsl"
