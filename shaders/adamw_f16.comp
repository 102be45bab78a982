#version 450
#extension GL_GOOGLE_include_directive : require
#define WRITE_F16
#include "common.glsl"
#include "adamw.glsl"
