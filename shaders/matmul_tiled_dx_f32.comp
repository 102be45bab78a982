#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Backward of y = x w^T for x: dx (+)= dy w with f32 w (w read transposed), shared-memory tiles.
#define B_TRANS
#include "matmul_tiled.glsl"
