#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// y = x w^T for few rows (decode), f32 weights, shared-memory reduction.
#include "matmul_rows.glsl"
