#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// y = x w^T for few rows (decode), f16 weights (read as words), subgroupAdd reduction (subgroup fast path).
#extension GL_KHR_shader_subgroup_arithmetic : require
#define USE_SUBGROUPS
#define W_F16
#include "matmul_rows.glsl"
