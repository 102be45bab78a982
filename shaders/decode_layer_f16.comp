#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "retention_common.glsl"
// A whole decode layer in one persistent dispatch, f16 weights (see decode_layer.glsl).
#define W_F16
#include "decode_layer.glsl"
