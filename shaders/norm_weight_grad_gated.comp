#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Weight gradient of the per-head norm with swish gate, first stage.
#define SWISH_GATE
#include "norm_weight_grad_body.glsl"
