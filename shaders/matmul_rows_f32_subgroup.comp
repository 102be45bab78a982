#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// y = x w^T for few rows (decode), f32 weights, subgroupAdd reduction (subgroup fast path).
#extension GL_KHR_shader_subgroup_arithmetic : require
#define USE_SUBGROUPS
#include "matmul_rows.glsl"
