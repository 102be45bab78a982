#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Softmax cross-entropy fused with its gradient, subgroup reductions (subgroup fast path).
#extension GL_KHR_shader_subgroup_arithmetic : require
#define USE_SUBGROUPS
#include "cross_entropy_body.glsl"
