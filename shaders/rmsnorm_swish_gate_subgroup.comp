#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// RetNet per-head RMSNorm fused with the swish output gate, subgroupAdd reduction.
#extension GL_KHR_shader_subgroup_arithmetic : require
#define USE_SUBGROUPS
#define SWISH_GATE
#include "rmsnorm_body.glsl"
