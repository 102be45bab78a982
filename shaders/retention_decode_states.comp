#version 450
#extension GL_GOOGLE_include_directive : require
// Decode-step retention of sequences whose states lie in buffers of their own, all in one
// dispatch (see retention_decode.glsl).
#define SEQUENCE_STATES
#include "retention_decode.glsl"
