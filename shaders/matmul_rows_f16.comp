#version 450
#extension GL_GOOGLE_include_directive : require
#define WEIGHT_F16
#include "common.glsl"
#include "matmul_rows.glsl"
