#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// The tensor-core ceiling with 16 x 8 x 16 fragments (see tensor_core_peak.glsl).
#define FRAG_N 8
#include "tensor_core_peak.glsl"
