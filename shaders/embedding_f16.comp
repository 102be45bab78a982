#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Embedding gather from an f16 table (packed in 32-bit words, decoded with unpackHalf2x16).
#define TABLE_F16
#include "embedding_body.glsl"
