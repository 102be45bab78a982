#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// y = x w^T for few rows (decode), f16 weights (read as words), shared-memory reduction.
#define W_F16
#include "matmul_rows.glsl"
