#version 450
#extension GL_GOOGLE_include_directive : require
// Decode-step retention of a batch whose states lie in one buffer (see retention_decode.glsl).
#include "retention_decode.glsl"
