#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Embedding gather from an f32 table.
#include "embedding_body.glsl"
