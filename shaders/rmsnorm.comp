#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// RMSNorm over rows, shared-memory reduction (works on every device).
#include "rmsnorm_body.glsl"
