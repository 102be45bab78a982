#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// y = x w^T for many rows (prefill), f32 weights, shared-memory tiles.
#include "matmul_tiled.glsl"
