#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// RMSNorm backward, subgroupAdd reduction (subgroup fast path).
#extension GL_KHR_shader_subgroup_arithmetic : require
#define USE_SUBGROUPS
#include "rmsnorm_backward_body.glsl"
