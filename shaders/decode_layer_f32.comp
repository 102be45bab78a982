#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "retention_common.glsl"
// A whole decode layer in one persistent dispatch, f32 weights (see decode_layer.glsl).
#include "decode_layer.glsl"
