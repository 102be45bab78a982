#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// RMSNorm over rows, subgroupAdd reduction (only when the subgroup fast path is on).
#extension GL_KHR_shader_subgroup_arithmetic : require
#define USE_SUBGROUPS
#include "rmsnorm_body.glsl"
