#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// y = x w^T for many rows (prefill), f16 weights (read as words), shared-memory tiles.
#define W_F16
#include "matmul_tiled.glsl"
