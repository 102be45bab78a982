#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Backward of RetNet's per-head norm with swish gate, subgroupAdd reduction.
#extension GL_KHR_shader_subgroup_arithmetic : require
#define USE_SUBGROUPS
#define SWISH_GATE
#include "rmsnorm_backward_body.glsl"
