#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Softmax cross-entropy fused with its gradient, shared-memory reductions (every device).
#include "cross_entropy_body.glsl"
