#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// RMSNorm weight gradient, first stage (see norm_weight_grad_body.glsl).
#include "norm_weight_grad_body.glsl"
