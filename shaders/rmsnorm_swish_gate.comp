#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// RetNet per-head RMSNorm fused with the swish output gate, shared-memory reduction.
#define SWISH_GATE
#include "rmsnorm_body.glsl"
