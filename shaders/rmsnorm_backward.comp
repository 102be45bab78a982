#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// RMSNorm backward, shared-memory reduction (every device).
#include "rmsnorm_backward_body.glsl"
