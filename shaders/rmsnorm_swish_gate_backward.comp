#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Backward of RetNet's per-head norm with swish gate, shared-memory reduction.
#define SWISH_GATE
#include "rmsnorm_backward_body.glsl"
