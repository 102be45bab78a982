#version 450
#extension GL_GOOGLE_include_directive : require

#define USE_SUBGROUPS
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "matmul_rows.glsl"
